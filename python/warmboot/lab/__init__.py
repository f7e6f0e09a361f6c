"""Lab flashing: put a signed warmboot release on a lab board, or leave the board as it was.

`warmboot-lab flash` (cli.py) runs the flow in flow.py for one place of a
lab configuration (config.py, a TOML file): download the release (download.py),
verify it with warmboot.release, check the flash chip's identity and back it
up (flashrom.py), write and verify, power-cycle (power.py) and watch the
serial console (console.py) for the boot markers; on any failure after the
write started, restore the backup and check that it boots. A lock per place
(lock.py, held as long as any flashrom lives) and deferred signals
(signals.py) keep two runs, or a Ctrl-C, from leaving half a chip behind; a
per-place journal (journal.py) remembers a write that a crash cut short, so
only `warmboot-lab recover` touches that chip next. Every run leaves
<run-dir>/result.json (record.py). The format, the flow and the outcomes are in docs/lab.md.

Every failure is a `LabError` subclass (errors.py), or a
`warmboot.release.ReleaseError` from verification.
"""

from .config import (
    BootMarker,
    BootSettings,
    FlashromSettings,
    LabConfig,
    LabSettings,
    Place,
    PowerSettings,
    SerialConsole,
    TcpConsole,
    load_lab_config,
    parse_lab_config,
)
from .errors import (
    BackupError,
    BoardIdentityError,
    BootCheckError,
    ConfigError,
    ConsoleError,
    DownloadError,
    FlashromError,
    FlashVerifyError,
    LabError,
    PlaceBusyError,
    PowerError,
    RunInterruptedError,
    StorageError,
    UnfinishedWriteError,
)
from .flashrom import ProbedChip, parse_probe_output, select_chip
from .flow import FlashRequest, RecoverRequest, flash_place, recover_run
from .record import EXIT_CODES, Outcome, RunRecord

__all__ = [
    "EXIT_CODES",
    "BackupError",
    "BoardIdentityError",
    "BootCheckError",
    "BootMarker",
    "BootSettings",
    "ConfigError",
    "ConsoleError",
    "DownloadError",
    "FlashRequest",
    "FlashVerifyError",
    "FlashromError",
    "FlashromSettings",
    "LabConfig",
    "LabError",
    "LabSettings",
    "Outcome",
    "Place",
    "PlaceBusyError",
    "PowerError",
    "PowerSettings",
    "ProbedChip",
    "RecoverRequest",
    "RunInterruptedError",
    "RunRecord",
    "SerialConsole",
    "StorageError",
    "TcpConsole",
    "UnfinishedWriteError",
    "flash_place",
    "load_lab_config",
    "parse_lab_config",
    "parse_probe_output",
    "recover_run",
    "select_chip",
]
