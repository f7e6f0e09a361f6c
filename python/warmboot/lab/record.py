"""The result record of a run, <run-dir>/result.json (schema: docs/lab.md).

The record is written when the run starts (outcome RUNNING), again after
every step, and a last time with the outcome, each time atomically (temp
file + rename): a run killed by SIGKILL or a power loss still leaves a
record that says which step was running, e.g. "write".
"""

from __future__ import annotations

import enum
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .. import __version__
from ..fsutil import write_atomic
from .commands import utc_timestamp
from .errors import one_line

RECORD_FORMAT = "warmboot-lab-result"
RECORD_FORMAT_VERSION = 1
RECORD_FILE = "result.json"


class Outcome(enum.StrEnum):
    RUNNING = "RUNNING"  # the run has not finished (or was killed)
    OK = "OK"  # flashed, verified, booted to every marker
    REFUSED = "REFUSED"  # a check failed before the write; nothing was written
    BUSY = "BUSY"  # another run holds the place; nothing was done
    CANCELLED = "CANCELLED"  # a signal stopped the run before the write
    ROLLED_BACK = "ROLLED_BACK"  # the new image failed; the old one is back, verified, booted
    BRICKED = "BRICKED"  # the rollback failed: the board may not boot
    ERROR = "ERROR"  # configuration or internal error; nothing was written


# Exit statuses of `warmboot-lab flash`, one per outcome (2 is argparse's usage error).
EXIT_CODES = {
    Outcome.OK: 0,
    Outcome.ERROR: 1,
    Outcome.REFUSED: 3,
    Outcome.BUSY: 4,
    Outcome.CANCELLED: 5,
    Outcome.ROLLED_BACK: 6,
    Outcome.BRICKED: 7,
}


@dataclass
class StepRecord:
    name: str
    started: str
    status: str = "running"  # running | ok | failed
    seconds: float | None = None
    detail: dict[str, Any] = field(default_factory=dict)
    error: str | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "status": self.status,
            "started": self.started,
            "seconds": None if self.seconds is None else round(self.seconds, 3),
            "detail": self.detail,
            "error": self.error,
        }


@dataclass
class RunRecord:
    place: str
    board: str
    release_url: str
    run_dir: Path
    config: Path | None
    command: str = "flash"  # or "recover"
    started: str = field(default_factory=utc_timestamp)
    outcome: Outcome = Outcome.RUNNING
    message: str = ""
    error_type: str | None = None
    failed_step: str | None = None
    interrupted_by: str | None = None
    write_started: bool = False
    finished: str | None = None
    seconds: float | None = None
    release: dict[str, Any] | None = None
    chip: dict[str, Any] | None = None
    backup: dict[str, Any] | None = None
    rollback: dict[str, Any] | None = None
    recovery: dict[str, Any] | None = None
    labgrid: dict[str, Any] | None = None  # a labgrid place: coordinator, place, resources
    next_steps: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    steps: list[StepRecord] = field(default_factory=list)
    commands: list[dict[str, Any]] = field(default_factory=list)
    _begin: float = field(default_factory=time.monotonic, repr=False)

    @property
    def exit_code(self) -> int | None:
        return EXIT_CODES.get(self.outcome)

    @property
    def path(self) -> Path:
        return self.run_dir / RECORD_FILE

    def finish(self, outcome: Outcome, message: str) -> None:
        self.outcome = outcome
        # The message is printed as one line and read by scripts: keep it one line.
        self.message = one_line(message)
        self.finished = utc_timestamp()
        self.seconds = time.monotonic() - self._begin

    def as_json(self) -> dict[str, Any]:
        return {
            "format": RECORD_FORMAT,
            "format_version": RECORD_FORMAT_VERSION,
            "tool": {"name": "warmboot-lab", "version": __version__},
            "command": self.command,
            "place": self.place,
            "board": self.board,
            "release_url": self.release_url,
            "config": None if self.config is None else str(self.config),
            "run_dir": str(self.run_dir),
            "started": self.started,
            "finished": self.finished,
            "seconds": None if self.seconds is None else round(self.seconds, 3),
            "outcome": self.outcome.value,
            "exit_code": self.exit_code,
            "message": self.message,
            "error_type": self.error_type,
            "failed_step": self.failed_step,
            "interrupted_by": self.interrupted_by,
            "write_started": self.write_started,
            "release": self.release,
            "chip": self.chip,
            "backup": self.backup,
            "rollback": self.rollback,
            "recovery": self.recovery,
            "labgrid": self.labgrid,
            "next_steps": self.next_steps,
            "warnings": self.warnings,
            "steps": [step.as_json() for step in self.steps],
            "commands": self.commands,
        }

    def write(self) -> None:
        """Replace the record atomically; PathError names the path and the reason."""
        text = json.dumps(self.as_json(), indent=2, sort_keys=False) + "\n"
        write_atomic(self.path, text.encode())
