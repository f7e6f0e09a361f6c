"""Running a build step's commands: logged, timed and with a heartbeat, in a
pinned environment, so a failure names the step and shows the log's tail."""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
import time
from pathlib import Path

from ..errors import WarmbootError

HEARTBEAT_SECONDS = 30

# Pinned so that two builds of the same tree are bit-identical.
REPRODUCIBLE_ENV = {
    "LC_ALL": "C",
    "LANG": "C",
    "TZ": "UTC",
    "SOURCE_DATE_EPOCH": "0",
}


class StepError(WarmbootError):
    """A build step (make, patch, cbfstool, ...) failed."""


def say(label: str, message: str) -> None:
    print(f"[{label}] {message}", flush=True)


def host_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment for build commands: the caller's PATH, pinned locale/time."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("KBUILD_", "KCONFIG_", "CROSS_COMPILE", "ARCH"))
    }
    env.update(REPRODUCIBLE_ENV)
    if extra:
        env.update(extra)
    return env


def log_tail(log: Path, lines: int = 30) -> str:
    try:
        return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def run_logged(
    label: str,
    what: str,
    cmd: list[str],
    log: Path,
    cwd: Path | None = None,
    env: dict[str, str] | None = None,
) -> float:
    """Run cmd with its output appended to log; say what runs and for how long.

    Raises StepError with the log's tail when cmd fails. Returns seconds taken.
    """
    log.parent.mkdir(parents=True, exist_ok=True)
    say(label, f"{what} (log: {log})")
    started = time.monotonic()
    done = threading.Event()

    def heartbeat() -> None:
        while not done.wait(HEARTBEAT_SECONDS):
            say(label, f"still working, {time.monotonic() - started:.0f} s so far")

    beat = threading.Thread(target=heartbeat, daemon=True)
    beat.start()
    try:
        with open(log, "ab") as out:
            out.write(f"\n$ {' '.join(cmd)}\n".encode())
            out.flush()
            result = subprocess.run(
                cmd,
                cwd=cwd,
                env=env or host_env(),
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
    finally:
        done.set()
    elapsed = time.monotonic() - started
    if result.returncode != 0:
        raise StepError(
            f"{label}: `{' '.join(cmd[:4])}...` failed (exit {result.returncode}) "
            f"after {elapsed:.0f} s; last lines of {log}:\n{log_tail(log)}"
        )
    return elapsed


def fresh_log(log: Path) -> Path:
    log.parent.mkdir(parents=True, exist_ok=True)
    log.write_text(f"# {time.strftime('%Y-%m-%d %H:%M:%S')}\n")
    return log


def copy_file(src: Path, dst: Path) -> None:
    """Copy so that dst appears whole (temp file + rename), keeping the mode."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = dst.with_name(f".{dst.name}.tmp")
    shutil.copy2(src, tmp)
    os.replace(tmp, dst)


def jobs() -> int:
    return max(1, os.cpu_count() or 1)
