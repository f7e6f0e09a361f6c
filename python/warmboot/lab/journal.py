"""What the lab knows about each place's flash chip, across runs and crashes.

<runs>/<place>/place.json (beside the place's run directories, on disk that
survives a reboot, unlike /run/lock) says whether the chip holds an image the
lab put there and saw whole, and where the last backup of a good chip is:

    {"format": "warmboot-lab-place", "format_version": 1, "place": "bench-3",
     "flash": "good" | "writing" | "suspect", "run_dir": "…", "step": "write",
     "since": "…", "reason": "…",
     "good_backup": {"path": "…/backup.rom", "sha256": "…", "length": 16777216,
                     "run_dir": "…", "taken": "…"}}

A run writes "writing" (durably, before the first byte goes to the chip) and
"good" or "suspect" when it knows the outcome. A run killed in between (host
crash, SIGKILL) leaves "writing": the next run finds the place in that state
and refuses to flash, because its backup would be a read-back of a half-written
chip. Only `warmboot-lab recover` writes to such a chip: the good backup,
checked against its recorded sha256, and then boot-checks it. The backup is
recorded only from a chip in the "good" state, so a suspect chip's read-back
never becomes a backup.
"""

from __future__ import annotations

import enum
import errno
import json
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from ..fsutil import PathError, read_capped_nofollow, write_atomic
from .errors import StorageError

JOURNAL_FILE = "place.json"
JOURNAL_FORMAT = "warmboot-lab-place"
JOURNAL_FORMAT_VERSION = 1
MAX_JOURNAL_BYTES = 1 << 16


class FlashState(enum.StrEnum):
    GOOD = "good"  # not written by the lab, or written, verified and booted
    WRITING = "writing"  # a write began and its run has not said how it ended
    SUSPECT = "suspect"  # a run ended unable to restore a booting image (BRICKED)


@dataclass(frozen=True)
class GoodBackup:
    """Two identical reads of a chip in the GOOD state."""

    path: str
    sha256: str
    length: int
    run_dir: str
    taken: str

    def as_json(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "sha256": self.sha256,
            "length": self.length,
            "run_dir": self.run_dir,
            "taken": self.taken,
        }


@dataclass(frozen=True)
class PlaceJournal:
    place: str
    flash: FlashState = FlashState.GOOD
    run_dir: str | None = None  # the run that last changed `flash`
    step: str | None = None  # with WRITING: the step that was writing
    since: str | None = None
    reason: str | None = None  # with SUSPECT: why
    good_backup: GoodBackup | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "format": JOURNAL_FORMAT,
            "format_version": JOURNAL_FORMAT_VERSION,
            "place": self.place,
            "flash": self.flash.value,
            "run_dir": self.run_dir,
            "step": self.step,
            "since": self.since,
            "reason": self.reason,
            "good_backup": self.good_backup.as_json() if self.good_backup else None,
        }

    def with_flash(
        self,
        flash: FlashState,
        *,
        run_dir: str,
        since: str,
        step: str | None = None,
        reason: str | None = None,
    ) -> PlaceJournal:
        return replace(self, flash=flash, run_dir=run_dir, step=step, since=since, reason=reason)

    def describe(self) -> str:
        """Why the chip is not trusted, for the refusal message."""
        if self.flash is FlashState.WRITING:
            return (
                f"run {self.run_dir} ended during its {self.step or 'write'} step "
                f"(started {self.since}) without recording how it ended: the chip may "
                "hold a half-written image"
            )
        return f"run {self.run_dir} could not restore a booting image: {self.reason}"


def journal_path(runs: Path, place: str) -> Path:
    return Path(runs) / place / JOURNAL_FILE


def _field(data: dict[str, Any], key: str, kind: type, path: Path, optional: bool = True) -> Any:
    value = data.get(key)
    if (value is None and optional) or (isinstance(value, kind) and not isinstance(value, bool)):
        return value
    raise StorageError(f"place journal {path}: {key}: expected {kind.__name__}")


def load_journal(path: Path, place: str) -> PlaceJournal:
    """The place's journal; a place never flashed by the lab is GOOD with no backup."""
    try:
        raw = read_capped_nofollow(path, MAX_JOURNAL_BYTES)
    except PathError as exc:
        if exc.errno == errno.ENOENT:
            return PlaceJournal(place)
        raise StorageError(f"place journal {exc}") from None
    try:
        data = json.loads(raw)
        if (
            not isinstance(data, dict)
            or data.get("format") != JOURNAL_FORMAT
            or data.get("format_version") != JOURNAL_FORMAT_VERSION
        ):
            raise ValueError("not a warmboot-lab place journal, version 1")
        named: Any = data.get("flash")  # None is refused as "not a valid FlashState"
        flash = FlashState(named)
    except ValueError as exc:
        raise StorageError(f"place journal {path}: {exc}") from None
    backup = _field(data, "good_backup", dict, path)
    good = (
        None
        if backup is None
        else GoodBackup(
            _field(backup, "path", str, path, False),
            _field(backup, "sha256", str, path, False),
            _field(backup, "length", int, path, False),
            _field(backup, "run_dir", str, path, False),
            _field(backup, "taken", str, path, False),
        )
    )
    return PlaceJournal(
        place,
        flash,
        _field(data, "run_dir", str, path),
        _field(data, "step", str, path),
        _field(data, "since", str, path),
        _field(data, "reason", str, path),
        good,
    )


def save_journal(path: Path, journal: PlaceJournal) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(path, (json.dumps(journal.as_json(), indent=2) + "\n").encode())
    except OSError as exc:
        raise StorageError(f"place journal {path.parent}: {exc.strerror}") from None
    except PathError as exc:
        raise StorageError(f"place journal {exc}") from None
