"""File I/O with the guarantees the release format relies on.

Every write goes to a temporary file in the target's directory and is then
renamed (or hard-linked, to refuse overwriting) into place, so a reader sees
either the old file or the whole new one. Reads are capped, so an attacker who
controls a file cannot make the verifier read without end.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from .. import fsutil
from ..fsutil import PathError
from .errors import ReleaseFileError


def _write_temp(directory: Path, data: bytes, mode: int) -> Path:
    # mkstemp creates the file 0600, so a private key is never readable by others,
    # not even for the moment before chmod.
    try:
        fd, name = tempfile.mkstemp(dir=directory, prefix=".tmp-")
    except OSError as exc:
        raise ReleaseFileError(f"cannot write in {directory}: {exc.strerror}") from None
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fchmod(handle.fileno(), mode)
            os.fsync(handle.fileno())
    except BaseException:
        os.unlink(name)
        raise
    return Path(name)


def _fsync_directory(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_atomic(path: Path, data: bytes, mode: int = 0o644) -> None:
    """Replace `path` with `data` in one step (fsutil's temp file + rename),
    failing with a ReleaseFileError."""
    try:
        fsutil.write_atomic(Path(path), data, mode)
    except PathError as exc:
        raise ReleaseFileError(f"cannot write {exc}") from None


def write_new(path: Path, data: bytes, mode: int = 0o644) -> None:
    """Create `path` with `data` in one step; FileExistsError if it exists.

    link(2) fails with EEXIST instead of replacing, which makes the
    no-overwrite check and the creation one atomic operation.
    """
    path = Path(path)
    temp = _write_temp(path.parent, data, mode)
    try:
        os.link(temp, path)
    finally:
        temp.unlink(missing_ok=True)
    _fsync_directory(path.parent)


def read_at_most(path: Path, limit: int, what: str) -> bytes:
    """Read `path`, but never more than `limit` + 1 bytes (so "too long" shows)."""
    try:
        with open(path, "rb") as handle:
            return handle.read(limit + 1)
    except FileNotFoundError:
        raise ReleaseFileError(f"{what} {path} does not exist") from None
    except OSError as exc:
        raise ReleaseFileError(f"cannot read {what} {path}: {exc.strerror}") from None


def read_capped(path: Path, limit: int, what: str) -> bytes:
    """Read `path`; a file longer than `limit` bytes is an error."""
    data = read_at_most(path, limit, what)
    if len(data) > limit:
        raise ReleaseFileError(f"{what} {path} is larger than {limit} bytes")
    return data


@contextlib.contextmanager
def exclusive_lock(path: Path) -> Iterator[None]:
    """Hold an exclusive flock on `path`.lock for a read-modify-write of `path`."""
    lock_path = Path(f"{path}.lock")
    try:
        handle = open(lock_path, "a")  # noqa: SIM115 -- `with handle` below; only open() is caught
    except OSError as exc:
        raise ReleaseFileError(f"cannot create lock file {lock_path}: {exc.strerror}") from None
    with handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
