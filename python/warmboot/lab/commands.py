"""Run the lab's external programs (flashrom, power commands) with a log each.

Every program runs in its own session, so a Ctrl-C on the terminal reaches
only warmboot-lab (which defers it) and never kills flashrom mid-write.
Output goes to a file, never a pipe: a power-on command that leaves a board
process running in the background (QEMU) would otherwise keep the pipe open
and hang the run. A log that cannot be created (a full run directory) does not
stop the program: a rollback matters more than its log.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from ..fsutil import PathError, open_new

# After a timeout kill: how long to wait for the process to be reaped. A
# process stuck in the kernel (a USB programmer gone) may never be; the run
# must not wait for it without end.
REAP_SECONDS = 10.0


def utc_timestamp(moment: datetime | None = None) -> str:
    moment = moment or datetime.now(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


@dataclass(frozen=True)
class CommandRun:
    """One finished program run, as the result record lists it."""

    label: str
    argv: tuple[str, ...]
    started: str
    seconds: float
    exit_code: int | None  # None: it could not start, or was killed after its timeout
    log: Path
    timed_out: bool = False
    start_error: str | None = None
    log_error: str | None = None  # the log could not be written (the output is lost)
    pid: int | None = None  # and process group (None: it did not start)

    @property
    def ok(self) -> bool:
        return self.exit_code == 0

    def output(self) -> str:
        try:
            return self.log.read_text(errors="replace")
        except OSError:
            return ""

    def describe_failure(
        self, name: str | None = None, telling: re.Pattern[str] | None = None
    ) -> str:
        """A short reason: the start error, the timeout, or the exit status and the
        output line that says most (the first `telling` one, else the last)."""
        name = name or self.argv[0]
        if self.start_error:
            return f"cannot run {self.argv[0]}: {self.start_error}"
        if self.timed_out:
            return f"{name} did not finish within {self.seconds:.0f} s (killed)"
        output = self.output()
        found = telling.search(output) if telling else None
        line = found.group(0).strip() if found else last_line(output)
        return f"{name} exited with status {self.exit_code}: {line}"

    def as_record(self) -> dict:
        record = {
            "label": self.label,
            "argv": list(self.argv),
            "started": self.started,
            "seconds": round(self.seconds, 3),
            "exit_code": self.exit_code,
            "timed_out": self.timed_out,
            "log": str(self.log),
        }
        if self.log_error:
            record["log_error"] = self.log_error
        return record


def last_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else "(no output)"


class CommandRunner:
    """Runs programs with numbered logs in `log_dir`, reporting each run to `on_run`."""

    def __init__(
        self,
        log_dir: Path,
        env: Mapping[str, str] | None = None,
        on_run: Callable[[CommandRun], None] | None = None,
    ):
        self.log_dir = Path(log_dir)
        self.env = {**os.environ, "LC_ALL": "C", **(env or {})}
        self.on_run = on_run
        self._count = 0

    def _open_log(self, log: Path, argv: Sequence[str]) -> tuple[int, str | None]:
        """A new log file (never through a planted link), or /dev/null and why not."""
        try:
            self.log_dir.mkdir(parents=True, exist_ok=True)
            fd = open_new(log)
        except (OSError, PathError) as exc:
            return os.open(os.devnull, os.O_WRONLY | os.O_CLOEXEC), str(exc)
        try:
            os.write(fd, ("$ " + " ".join(argv) + "\n").encode())
        except OSError as exc:
            return fd, f"{log}: {exc.strerror}"
        return fd, None

    def run(
        self,
        label: str,
        argv: Sequence[str],
        timeout: float,
        stdin: bytes | None = None,
        env: Mapping[str, str] | None = None,
        pass_fds: Sequence[int] = (),
        on_start: Callable[[int], None] | None = None,
    ) -> CommandRun:
        """Run `argv` for at most `timeout` seconds; `pass_fds` are inherited (the lock);
        `on_start` gets the process group id as soon as the program runs."""
        self._count += 1
        log = self.log_dir / f"{self._count:02d}-{label}.log"
        started, begin = utc_timestamp(), time.monotonic()
        exit_code: int | None = None
        timed_out, start_error, pid = False, None, None
        out, log_error = self._open_log(log, argv)
        try:
            try:
                proc = subprocess.Popen(
                    list(argv),
                    stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                    env={**self.env, **(env or {})},
                    pass_fds=tuple(pass_fds),
                )
            except OSError as exc:
                start_error = exc.strerror or str(exc)
            else:
                pid = proc.pid
                if on_start:
                    on_start(proc.pid)  # its own session: its pid is its process group
                try:
                    proc.communicate(input=stdin, timeout=timeout)
                    exit_code = proc.returncode
                except subprocess.TimeoutExpired:
                    timed_out = True
                    # Its own session is its own process group: take the children too.
                    with contextlib.suppress(ProcessLookupError):
                        os.killpg(proc.pid, signal.SIGKILL)
                    with contextlib.suppress(subprocess.TimeoutExpired):
                        proc.wait(REAP_SECONDS)
        finally:
            os.close(out)
        run = CommandRun(
            label,
            tuple(argv),
            started,
            time.monotonic() - begin,
            exit_code,
            log,
            timed_out,
            start_error,
            log_error,
            pid,
        )
        if self.on_run:
            self.on_run(run)
        return run
