"""The benchmark's exception types."""

from __future__ import annotations

from warmboot.errors import WarmbootError


class BenchError(WarmbootError):
    """The benchmark could not run, or its results cannot be read."""


class GuestImageError(BenchError):
    """A guest image (initramfs, disk) for the benchmark could not be made."""


class GuestRunError(BenchError):
    """A benchmark boot or crash did not go as the mechanism promises."""


class ResultsError(BenchError):
    """A results file is missing, malformed or of another schema version."""


class BuildTimingError(BenchError):
    """Timing the build (SCons or the same makes by hand) failed."""
