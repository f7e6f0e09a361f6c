"""Exceptions raised while pinning, fetching and unpacking sources."""

from ..errors import WarmbootError


class SourceError(WarmbootError):
    """A source could not be obtained or unpacked."""


class LockError(SourceError):
    """The lock file is malformed."""


class HashMismatchError(SourceError):
    """A file's sha256 differs from the one pinned in the lock file."""

    def __init__(self, name: str, origin: str, expected: str, actual: str):
        self.name = name
        self.origin = origin
        self.expected = expected
        self.actual = actual
        super().__init__(
            f"sha256 mismatch for {name} (from {origin}): expected {expected}, "
            f"got {actual}; the file was discarded and nothing was built from it"
        )


class SourceUnavailableError(SourceError):
    """No provider could deliver a pinned file."""


class AptError(SourceUnavailableError):
    """apt could not deliver a pinned package, or could not refresh its lists."""


class NotInArchiveError(AptError):
    """The archive, freshly read, carries no such package version."""


class PinsUnfetchableError(SourceUnavailableError):
    """`warmboot sources check` found pins that can no longer be fetched."""


class LockRewriteError(LockError):
    """The lock could not be rewritten safely; it was left as it was."""
