"""Small file helpers shared by warmboot's modules.

Files in the directories a tool owns (locks, runs, caches) are opened without
following symbolic links, new ones with O_EXCL, so a link planted there cannot
redirect a write to another file. Such directories must be writable only by
this user (or root): otherwise anyone who can write there can plant links or
swap files between a check and its use. Replacements are atomic (a temporary
file in the same directory, fsync, rename), so a reader sees the old file or
the whole new one, never half of it.

Every failure is a `PathError` whose message names the path and the reason.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
import tempfile
from pathlib import Path
from types import TracebackType

from .errors import WarmbootError

NOFOLLOW = os.O_NOFOLLOW | os.O_CLOEXEC


class PathError(WarmbootError):
    """A file or directory cannot be created, read, written or trusted."""

    def __init__(self, path: Path | str, reason: str, errno: int | None = None):
        super().__init__(f"{path}: {reason}")
        self.path = Path(path)
        self.reason = reason
        self.errno = errno


def reason_of(error: OSError) -> str:
    """strerror, with the one errno whose text misleads here spelled out."""
    if error.errno == errno.ELOOP:
        return "is a symbolic link (not followed)"
    return error.strerror or str(error)


def _check_not_writable_by_others(path: Path, info: os.stat_result, *, ancestor: bool) -> None:
    if info.st_uid not in (os.geteuid(), 0):
        raise PathError(path, f"is owned by uid {info.st_uid}, not by this user or root")
    writable_by_others = info.st_mode & (stat.S_IWGRP | stat.S_IWOTH)
    # A sticky ancestor (/tmp) lets others add entries but not replace ours.
    if writable_by_others and not (ancestor and info.st_mode & stat.S_ISVTX):
        raise PathError(
            path,
            f"is writable by other users (mode "
            f"{stat.S_IMODE(info.st_mode):04o}); allow only its owner "
            "to write there",
        )


def check_private_dir(path: Path) -> None:
    """`path` and its ancestors can be written only by this user or root.

    The configured path itself may be a symbolic link (an administrator's
    choice); what it resolves to is checked.
    """
    real = Path(os.path.realpath(path))
    try:
        info = os.stat(real)
    except OSError as exc:
        raise PathError(path, reason_of(exc)) from None
    if not stat.S_ISDIR(info.st_mode):
        raise PathError(path, "is not a directory")
    _check_not_writable_by_others(path if real == Path(path) else real, info, ancestor=False)
    for parent in real.parents:
        _check_not_writable_by_others(parent, os.stat(parent), ancestor=True)


def ensure_private_dir(path: Path) -> Path:
    """Create `path` (and missing parents) if needed, then check_private_dir."""
    path = Path(path)
    try:
        path.mkdir(mode=0o755, parents=True, exist_ok=True)
    except OSError as exc:
        raise PathError(exc.filename or path, reason_of(exc)) from None
    check_private_dir(path)
    return path


def open_nofollow(path: Path, flags: int = os.O_RDONLY, mode: int = 0o644) -> int:
    """os.open without following a symbolic link in the last component."""
    try:
        return os.open(path, flags | NOFOLLOW, mode)
    except OSError as exc:
        raise PathError(path, reason_of(exc), exc.errno) from None


def open_new(path: Path, mode: int = 0o644) -> int:
    """Create `path` for writing; it must not exist (not even as a dangling link)."""
    return open_nofollow(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)


def write_new(path: Path, data: bytes, mode: int = 0o644) -> None:
    """Create `path` holding `data`; on any failure nothing is left behind."""
    fd = open_new(path, mode)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
    except OSError as exc:
        os.unlink(path)
        raise PathError(path, reason_of(exc)) from None


def read_capped_nofollow(path: Path, limit: int) -> bytes:
    """At most `limit` + 1 bytes of `path` (so "too long" shows), not through a link."""
    fd = open_nofollow(path)
    try:
        with os.fdopen(fd, "rb") as handle:
            return handle.read(limit + 1)
    except OSError as exc:
        raise PathError(path, reason_of(exc)) from None


def read_one_line(fd: int, limit: int = 4096) -> str:
    """The first line of an open file, from its start, stripped ("" when empty)."""
    data = os.pread(fd, limit, 0)
    return data.split(b"\n", 1)[0].decode(errors="replace").strip()


class AtomicFile:
    """A file written under a temporary name and renamed over `path` on commit().

    Until commit() nothing at `path` changes; leaving the block without a
    commit (or any failure) deletes the temporary file.
    """

    def __init__(self, path: Path, mode: int = 0o644):
        self.path = Path(path)
        self.mode = mode
        try:
            # mkstemp opens with O_EXCL, so it never writes through a planted link.
            fd, name = tempfile.mkstemp(prefix=f".partial-{self.path.name}-", dir=self.path.parent)
        except OSError as exc:
            raise PathError(self.path.parent, reason_of(exc)) from None
        self.temp = Path(name)
        self._handle = os.fdopen(fd, "wb")
        self.committed = False

    def write(self, data: bytes) -> None:
        try:
            self._handle.write(data)
        except OSError as exc:
            raise PathError(self.path, reason_of(exc)) from None

    def commit(self) -> None:
        try:
            self._handle.flush()
            os.fchmod(self._handle.fileno(), self.mode)
            os.fsync(self._handle.fileno())
            self._handle.close()
            os.replace(self.temp, self.path)
            directory = os.open(self.path.parent, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
            try:
                os.fsync(directory)
            finally:
                os.close(directory)
        except OSError as exc:
            raise PathError(self.path, reason_of(exc)) from None
        self.committed = True

    def discard(self) -> None:
        if not self._handle.closed:
            with contextlib.suppress(OSError):  # ENOSPC on the last flush: it is deleted anyway
                self._handle.close()
        if not self.committed:
            self.temp.unlink(missing_ok=True)

    def __enter__(self) -> AtomicFile:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.discard()


def write_atomic(path: Path, data: bytes, mode: int = 0o644) -> None:
    """Replace `path` with `data` in one step."""
    with AtomicFile(path, mode) as out:
        out.write(data)
        out.commit()
