"""Pinned, verified inputs: the lock file, the sha256-keyed cache and the providers."""

from .errors import HashMismatchError, LockError, SourceError, SourceUnavailableError
from .lock import LockFile, PinnedFile, PinnedSource, load_lock
from .resolve import SourceTree, materialize

__all__ = [
    "HashMismatchError",
    "LockError",
    "LockFile",
    "PinnedFile",
    "PinnedSource",
    "SourceError",
    "SourceTree",
    "SourceUnavailableError",
    "load_lock",
    "materialize",
]
