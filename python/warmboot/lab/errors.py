"""The exception types of warmboot.lab, one per way a lab run can fail.

The flow (flow.py) turns them into an outcome: before the write starts any
of them means REFUSED (nothing was written), except ConfigError and
StorageError (ERROR), PlaceBusyError (BUSY) and RunInterruptedError
(CANCELLED); after the write started every failure leads to a rollback.
"""

from __future__ import annotations

from ..errors import WarmbootError
from ..errors import one_line as one_line  # the lab's modules import it from here


class LabError(WarmbootError):
    """Any failure of the lab flashing tool."""


class ConfigError(LabError):
    """The lab configuration (or the trusted root it names) is unreadable or invalid;
    the message names the file, the place and the key."""


class StorageError(LabError):
    """A lock, run or cache file or directory cannot be created, written or trusted
    (read-only or full file system, a symbolic link, writable by other users);
    the message names the path and the reason."""


class UnfinishedWriteError(LabError):
    """The place's last run ended in the middle of a write, or could not restore the
    flash: the chip may hold a half-written image, and only `recover` may touch it."""


class PlaceBusyError(LabError):
    """Another run holds the place's lock: two runs never flash one board."""


class RunInterruptedError(LabError):
    """SIGINT, SIGTERM or SIGHUP asked the run to stop at a safe point."""


class DownloadError(LabError):
    """A release file could not be fetched completely within its signed size and hash."""


class FlashromError(LabError):
    """A flashrom run failed: exit status, timeout, or output we cannot understand."""


class FlashVerifyError(FlashromError):
    """`flashrom -v` found that the flash differs from the image."""


class BoardIdentityError(LabError):
    """The probed flash chip is not the chip (name and size) the place and release expect."""


class BackupError(LabError):
    """The current flash contents could not be read back identically twice."""


class PowerError(LabError):
    """A power command failed or did not finish in time."""


class ConsoleError(LabError):
    """The serial console cannot be opened."""


class BootCheckError(LabError):
    """The board did not print its boot markers in time, or printed a failure pattern."""


class LabgridError(LabError):
    """The labgrid coordinator cannot be reached, or the labgrid place lacks a resource
    warmboot-lab needs (or has one it cannot use)."""


class RegionError(LabError):
    """A region-only image (the BIOS region of lenovo-x230) does not fit the place or the
    chip's own flash descriptor: it could write outside its region."""
