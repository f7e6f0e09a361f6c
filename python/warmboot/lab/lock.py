"""One writer per place at a time: an exclusive flock on <locks>/<place>.lock.

flock(2) locks belong to the open file, and live until the last descriptor
of it is closed. The run keeps its descriptor close-on-exec, so a board
process a power command leaves running (QEMU) never keeps the place locked;
but every flashrom it starts inherits the descriptor (`PlaceLock.fd`, passed
with pass_fds). So the lock lives as long as any program that can touch the
chip: when warmboot-lab is killed mid-write, a flashrom still writing keeps
the place BUSY until it exits, and a crashed run never leaves a stale lock.
A wrapper may close inherited descriptors (sudo does), so the file also
names the process group of the chip program running (`child PGID`): a run
that gets the lock while that group still has a process is BUSY as well. (A
process group id is not reused while any process is in the group.)

The file is never deleted (deleting a lock file races with another process
that opened it); it holds the holder's pid, start time and what it is (a run
and its directory), which a refused run reports. It is opened without
following symbolic links, in a directory only this user may write to.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from ..fsutil import PathError, ensure_private_dir, open_nofollow, read_one_line
from .errors import PlaceBusyError, StorageError


@dataclass(frozen=True)
class PlaceLock:
    path: Path
    fd: int  # inherited by the chip's programs, so the lock outlives none of them
    holder: str  # the file's first line

    def _write(self, text: str) -> None:
        # Best effort: the inherited descriptor still holds the lock if this fails.
        with contextlib.suppress(OSError):
            data = text.encode()
            os.pwrite(self.fd, data, 0)
            os.ftruncate(self.fd, len(data))

    def note_child(self, pgid: int) -> None:
        """A program that can touch the chip runs in process group `pgid`."""
        self._write(f"{self.holder}\nchild {pgid}\n")

    def child_ended(self, pgid: int) -> None:
        """Forget the group once no process is left in it."""
        if _group_alive(pgid) is False:
            self._write(f"{self.holder}\n")


def _group_alive(pgid: int) -> bool:
    """Whether a process of group `pgid` still runs (a zombie cannot touch the chip)."""
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        entries = [name for name in os.listdir("/proc") if name.isdigit()]
    except OSError:
        return True
    for name in entries:
        try:
            with open(f"/proc/{name}/stat", "rb") as stat:
                # "pid (comm) state ppid pgrp …"; comm may hold spaces and parentheses.
                fields = stat.read().rsplit(b")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[2]) == pgid and fields[0] != b"Z":
            return True
    return False


def _surviving_child(fd: int) -> int | None:
    """The chip program's process group an earlier holder named, if it still lives."""
    for line in os.pread(fd, 4096, 0).decode(errors="replace").splitlines():
        words = line.split()
        if len(words) == 2 and words[0] == "child" and words[1].isdigit():
            return int(words[1]) if _group_alive(int(words[1])) else None
    return None


def lock_path(lock_dir: Path, place: str) -> Path:
    return Path(lock_dir) / f"{place}.lock"


def _holder_pid(holder: str) -> int | None:
    words = holder.split()
    if len(words) >= 2 and words[0] == "pid" and words[1].isdigit():
        return int(words[1])
    return None


def _describe_holder(fd: int) -> str:
    holder = read_one_line(fd) or "unknown holder"
    pid = _holder_pid(holder)
    if pid is not None and pid != os.getpid():
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return (
                f"{holder}; that process is gone, but a flashrom it started still holds "
                "the lock and may still be using the chip: wait for it to end"
            )
        except PermissionError:
            pass
    return holder


def _open_lock_file(path: Path) -> int:
    try:
        ensure_private_dir(path.parent)
        try:
            fd = open_nofollow(path, os.O_RDWR)
        except PathError as exc:
            if exc.errno != errno.ENOENT:
                raise
            # Absent: create it, never through a link planted meanwhile.
            fd = open_nofollow(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o644)
    except PathError as exc:
        raise StorageError(f"lock file {exc}") from None
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode) or info.st_uid not in (os.geteuid(), 0):
        os.close(fd)
        raise StorageError(f"lock file {path}: not a regular file of this user or root")
    return fd


@contextlib.contextmanager
def hold_place_lock(lock_dir: Path, place: str, holder: str) -> Iterator[PlaceLock]:
    """Hold the place's lock for the block; PlaceBusyError at once if another run has it.

    `holder` says who holds it (e.g. "run /path/to/run-dir") to a refused run.
    """
    path = lock_path(lock_dir, place)
    fd = _open_lock_file(path)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise PlaceBusyError(
                f"place {place} is being flashed by another run "
                f"({_describe_holder(fd)}); lock {path}"
            ) from None
        child = _surviving_child(fd)
        if child is not None:
            raise PlaceBusyError(
                f"place {place}: a program that can touch its chip (process "
                f"group {child}), started by an earlier run "
                f"({read_one_line(fd)}), is still running: wait for it to "
                f"end; lock {path}"
            )
        since = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        lock = PlaceLock(path, fd, f"pid {os.getpid()} since {since} {holder}")
        lock._write(lock.holder + "\n")
        try:
            yield lock
        finally:
            # Keep the name of a chip program that survived its timeout kill.
            if _surviving_child(fd) is None:
                with contextlib.suppress(OSError):
                    os.ftruncate(fd, 0)
    finally:
        # No LOCK_UN: it would release the lock for a child still holding the file
        # (a flashrom that outlived a timeout kill); closing lets the kernel decide.
        os.close(fd)


def lock_holder(lock_dir: Path, place: str) -> str | None:
    """Who holds the place's lock, or None when it is free (for `warmboot-lab places`)."""
    path = lock_path(lock_dir, place)
    try:
        fd = open_nofollow(path)
    except PathError as exc:
        if exc.errno == errno.ENOENT:
            return None
        raise StorageError(f"lock file {exc}") from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return _describe_holder(fd)
        fcntl.flock(fd, fcntl.LOCK_UN)
        child = _surviving_child(fd)
        if child is not None:
            return (
                f"{read_one_line(fd)}; that run is gone, but its chip program (process "
                f"group {child}) still runs"
            )
        return None
    finally:
        os.close(fd)
