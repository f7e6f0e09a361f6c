"""One run per place at a time: an exclusive flock on <locks>/<place>.lock.

flock(2) locks die with the process that holds them, so a crashed run never
leaves a stale lock. The file is never deleted (deleting a lock file races
with another process that opened it); it holds the holder's pid, start time
and what it is (a run and its directory), which a refused run reports. The descriptor is not
inherited by children (Python opens files close-on-exec), so a board process
a power command leaves running (QEMU) never keeps the place locked.
"""
from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

from .errors import LabError, PlaceBusyError


def lock_path(lock_dir: Path, place: str) -> Path:
    return Path(lock_dir) / f"{place}.lock"


def _read_holder(fd: int) -> str:
    os.lseek(fd, 0, os.SEEK_SET)
    return os.read(fd, 4096).decode(errors="replace").strip() or "unknown holder"


@contextlib.contextmanager
def hold_place_lock(lock_dir: Path, place: str, holder: str) -> Iterator[Path]:
    """Hold the place's lock for the block; PlaceBusyError at once if another run has it.

    `holder` says who holds it (e.g. "run /path/to/run-dir") to a refused run.
    """
    path = lock_path(lock_dir, place)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    except OSError as exc:
        raise LabError(f"cannot open the lock file {path}: {exc.strerror}") from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise PlaceBusyError(f"place {place} is being flashed by another run "
                                 f"({_read_holder(fd)}); lock {path}") from None
        since = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid {os.getpid()} since {since} {holder}\n".encode(), 0)
        try:
            yield path
        finally:
            os.ftruncate(fd, 0)
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def lock_holder(lock_dir: Path, place: str) -> str | None:
    """Who holds the place's lock, or None when it is free (for `warmboot-lab places`)."""
    path = lock_path(lock_dir, place)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return _read_holder(fd)
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)
