"""Flash one place: the flow, its state machine and its result record.

    prepare (nothing written; any failure: REFUSED, a signal: CANCELLED)
        trust -> download -> verify -> [power-off] -> probe -> backup
    write (from here on every failure rolls back)
        write -> verify-flash -> boot-check -> [commit-state] -> OK
    rollback (not interruptible)
        [power-off] -> rollback-write -> rollback-verify (twice at most)
        -> rollback-boot-check -> ROLLED_BACK, or BRICKED when any of it fails

The image written is `VerifiedRelease.image`, the bytes verify_release hashed;
the backup written by a rollback is the in-memory copy of two identical
reads. docs/lab.md describes each step, outcome and the record.
"""
from __future__ import annotations

import contextlib
import hashlib
import re
import traceback
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ..errors import WarmbootError
from ..release import ReleaseError, RollbackState, SignedRoot, VerifiedRelease, verify_release
from ..release.encoding import format_timestamp
from ..release.root import load_root_file
from ..release.state import load_state
from .commands import CommandRun, CommandRunner, utc_timestamp
from .config import BootMarker, Place
from .console import ConsoleWatcher
from .download import DownloadCache, fetch_release
from .errors import BackupError, ConfigError, PlaceBusyError, RunInterruptedError
from .flashrom import Flashrom, format_size, select_chip
from .lock import hold_place_lock
from .power import PowerControl
from .record import Outcome, RunRecord, StepRecord
from .signals import DeferredSignals

ROLLBACK_WRITE_ATTEMPTS = 2   # a flaky clip may fail once; the backup is worth a retry
BACKUP_FILE = "backup.rom"


@dataclass(frozen=True)
class FlashRequest:
    place: Place
    release_url: str
    trusted_root: Path
    run_dir: Path
    lock_dir: Path
    cache_dir: Path
    state_file: Path | None = None
    config_path: Path | None = None
    allow_expired: bool = False
    allow_version_downgrade: bool = False
    download_timeout: float = 30.0
    download_max_seconds: float = 900.0
    progress: bool | None = None
    report: Callable[[str], None] | None = None   # one line per step, for --verbose


@dataclass(frozen=True)
class Backup:
    path: Path
    data: bytes
    sha256: str

    def as_record(self) -> dict[str, Any]:
        return {"path": str(self.path), "sha256": self.sha256, "length": len(self.data)}


def release_record(verified: VerifiedRelease, url: str) -> dict[str, Any]:
    payload = verified.payload
    return {
        "url": url, "board": payload.board.name, "version": str(payload.version),
        "security_version": payload.security_version,
        "expires": format_timestamp(payload.expires), "flash_size": payload.board.flash_size,
        "image_sha256": payload.image.sha256, "image_length": payload.image.length,
        "manifest_sha256": payload.manifest.sha256, "payload_sha256": verified.payload_sha256,
        "root_version": verified.root_version, "root_fingerprint": verified.root_fingerprint,
        "signed_by": list(verified.signed_by),
    }


def first_difference(a: bytes, b: bytes, block: int = 4096) -> tuple[int, int]:
    """(offset of the first differing byte, number of differing bytes) of equal-length data."""
    first, count = -1, 0
    for start in range(0, min(len(a), len(b)), block):
        left, right = a[start:start + block], b[start:start + block]
        if left == right:  # compare whole blocks in C; look at bytes only where they differ
            continue
        for index, (x, y) in enumerate(zip(left, right)):
            if x != y:
                first = start + index if first < 0 else first
                count += 1
    return first, count


def _one_line(error: BaseException) -> str:
    return " ".join(str(error).split()) or type(error).__name__


class FlashRun:
    """One `warmboot-lab flash`: owns the record, the runner and the place's tools."""

    def __init__(self, request: FlashRequest, signals: DeferredSignals):
        self.request = request
        self.place = request.place
        self.signals = signals
        self.record = RunRecord(place=self.place.name, board=self.place.board,
                                release_url=request.release_url, run_dir=request.run_dir,
                                config=request.config_path)
        env = {"WARMBOOT_LAB_PLACE": self.place.name,
               "WARMBOOT_LAB_RUN_DIR": str(request.run_dir)}
        self.runner = CommandRunner(request.run_dir / "logs", env, self._command_finished)
        self.flashrom = Flashrom(self.place.flashrom, self.runner, self.place.name)
        self.power = PowerControl(self.place.power, self.runner, self.place.name)
        self.record_error: str | None = None
        self._step: StepRecord | None = None
        self._trusted: SignedRoot | None = None
        self._staged: Path | None = None

    # -- record -----------------------------------------------------------------
    def _save(self) -> None:
        # Never let a full disk stop a rollback: remember the error, report it at the end.
        try:
            self.record.write()
        except Exception as exc:  # noqa: BLE001 - any failure to write is only reported
            self.record_error = f"cannot write {self.record.path}: {_one_line(exc)}"

    def _command_finished(self, run: CommandRun) -> None:
        self.record.commands.append({"step": self._step.name if self._step else None,
                                     **run.as_record()})
        self._save()

    def _say(self, line: str) -> None:
        if self.request.report:
            self.request.report(f"{self.place.name}: {line}")

    @contextlib.contextmanager
    def step(self, name: str, **detail: Any) -> Iterator[StepRecord]:
        step = StepRecord(name, utc_timestamp(), detail=dict(detail))
        self.record.steps.append(step)
        self._step = step
        self._save()
        self._say(f"{name} ...")
        began = datetime.now(timezone.utc)
        try:
            yield step
        except BaseException as exc:
            step.status, step.error = "failed", _one_line(exc)
            self.record.failed_step = self.record.failed_step or name
            raise
        else:
            step.status = "ok"
        finally:
            step.seconds = (datetime.now(timezone.utc) - began).total_seconds()
            self._step = None
            self._save()
            self._say(f"{name} {step.status} ({step.seconds:.1f} s)")

    def _finish(self, outcome: Outcome, message: str, error: BaseException | None = None) -> None:
        if error is not None:
            self.record.error_type = self.record.error_type or type(error).__name__
        self.record.interrupted_by = self.signals.received
        self.signals.phase = "done"
        self.record.finish(outcome, message)
        self._save()

    def _interrupted(self) -> bool:
        return self.signals.received is not None

    def _checkpoint(self) -> None:
        if self.signals.received:
            raise RunInterruptedError(f"{self.signals.received} received")

    def _internal_error(self, error: BaseException) -> str:
        path = self.request.run_dir / "traceback.txt"
        with contextlib.suppress(OSError):
            path.write_text("".join(traceback.format_exception(error)))
        return f"internal error {type(error).__name__}: {_one_line(error)} (traceback in {path})"

    # -- the run ----------------------------------------------------------------
    def execute(self) -> RunRecord:
        with self.signals:
            try:
                with hold_place_lock(self.request.lock_dir, self.place.name,
                                     f"run {self.request.run_dir}"):
                    self._run_locked()
            except PlaceBusyError as exc:
                self._finish(Outcome.BUSY, f"{exc}; nothing was done", exc)
        return self.record

    def _run_locked(self) -> None:
        try:
            verified, backup = self._prepare()
        except RunInterruptedError as exc:
            self._finish(Outcome.CANCELLED, f"{exc} before the write: nothing was written", exc)
        except ConfigError as exc:
            self._finish(Outcome.ERROR, f"{exc}; nothing was written", exc)
        except WarmbootError as exc:
            self._finish(Outcome.REFUSED, f"{exc}; nothing was written", exc)
        except Exception as exc:  # noqa: BLE001 - a bug must still end in a record
            self._finish(Outcome.ERROR, f"{self._internal_error(exc)}; nothing was written", exc)
        else:
            self._flash(verified, backup)

    def _load_trust(self) -> tuple[SignedRoot, RollbackState]:
        request = self.request
        try:
            trusted = load_root_file(request.trusted_root)
        except ReleaseError as exc:
            raise ConfigError(f"trusted root {request.trusted_root}: {exc}") from None
        try:
            state = load_state(request.state_file) if request.state_file else RollbackState()
        except ReleaseError as exc:
            raise ConfigError(f"rollback state {request.state_file}: {exc}") from None
        return trusted, state

    def _prepare(self) -> tuple[VerifiedRelease, Backup]:
        request, place = self.request, self.place
        with self.step("trust", root=str(request.trusted_root),
                       state=None if request.state_file is None else str(request.state_file)):
            self._trusted, state = self._load_trust()
        self._checkpoint()
        with self.step("download", url=request.release_url) as step:
            fetched = fetch_release(
                request.release_url, request.run_dir / "release", self._trusted,
                board=place.board, flash_size=place.flashrom.size, state=state,
                now=datetime.now(timezone.utc), allow_expired=request.allow_expired,
                allow_version_downgrade=request.allow_version_downgrade,
                cache=DownloadCache(request.cache_dir), timeout=request.download_timeout,
                max_seconds=request.download_max_seconds, progress=request.progress,
                should_stop=self._interrupted)
            step.detail["files"] = [f.as_record() for f in fetched.files]
            self._staged = fetched.directory
        self._checkpoint()
        with self.step("verify"):
            verified = verify_release(
                fetched.directory, self._trusted, board=place.board,
                state_file=request.state_file, flash_size=place.flashrom.size,
                allow_expired=request.allow_expired,
                allow_version_downgrade=request.allow_version_downgrade)
            self.record.release = release_record(verified, fetched.url)
            self.record.warnings += verified.warnings
        self._checkpoint()
        if place.power.off_while_flashing:
            with self.step("power-off"):
                self.power.off()
        with self.step("probe") as step:
            found = self.flashrom.probe()
            step.detail["found"] = [chip.as_record() for chip in found]
            chip = select_chip(found, place.flashrom.chip, place.flashrom.size)
            self.record.chip = chip.as_record()
        self._checkpoint()
        with self.step("backup") as step:
            backup = self._read_backup()
            step.detail.update(backup.as_record())
        self._checkpoint()
        return verified, backup

    def _read_backup(self) -> Backup:
        """Read the flash twice; only two identical reads of the full size make a backup."""
        size = self.place.flashrom.size
        path = self.request.run_dir / BACKUP_FILE
        reread = self.request.run_dir / "backup-reread.rom"
        first = self.flashrom.read(path, "read-backup-1")
        self._checkpoint()  # a read of a large chip over a slow programmer takes minutes
        second = self.flashrom.read(reread, "read-backup-2")
        for data in (first, second):
            if len(data) != size:
                raise BackupError(f"flashrom read {len(data)} bytes, not the chip's "
                                  f"{format_size(size)}")
        if first != second:
            offset, count = first_difference(first, second)
            raise BackupError(f"two reads of the flash differ ({count} bytes, the first at "
                              f"offset {offset:#x}): the connection to the chip is unreliable")
        reread.unlink()
        backup = Backup(path, first, hashlib.sha256(first).hexdigest())
        self.record.backup = backup.as_record()
        return backup

    def _flash(self, verified: VerifiedRelease, backup: Backup) -> None:
        place = self.place
        self.record.write_started = True
        self.signals.phase = "write"
        try:
            with self.step("write", layout=place.flashrom.layout,
                           regions=list(place.flashrom.regions)):
                self.flashrom.write(verified.image, "write")
            with self.step("verify-flash"):
                self.flashrom.verify(verified.image, "verify-flash")
            if self.signals.received:
                raise RunInterruptedError(f"{self.signals.received} received during the write "
                                          "(the write and its verify completed)")
            self.signals.phase = "boot-check"
            with self.step("boot-check") as step:
                self._boot_check(place.boot.markers, "boot", step.detail,
                                 should_stop=self._interrupted)
        except Exception as failure:  # noqa: BLE001 - every failure after the write rolls back
            self.signals.phase = "rollback"
            self._roll_back(backup, failure)
            return
        self._commit_state(verified)
        seconds = sum(step.seconds or 0 for step in self.record.steps
                      if step.name in ("write", "verify-flash", "boot-check"))
        self._finish(Outcome.OK, f"place {place.name} runs {place.board} "
                                 f"{verified.payload.version} (image sha256 "
                                 f"{verified.payload.image.sha256}): written, verified "
                                 f"and booted to its last marker; {seconds:.1f} s from write "
                                 "to boot")

    def _boot_check(self, markers: Sequence[BootMarker], label: str, detail: dict[str, Any],
                    should_stop: Callable[[], bool] = lambda: False) -> None:
        """Power-cycle the board and wait for each marker in turn; fills `detail` as it goes."""
        log = self.request.run_dir / "console" / f"{label}.log"
        failures = [re.compile(pattern.encode()) for pattern in self.place.boot.failures]
        detail.update(console=self.place.console.describe(), console_log=str(log), markers=[])
        with ConsoleWatcher(self.place.console, log) as watcher:
            cursor = watcher.position
            watcher.mark_reference()
            self.power.cycle(f"{label}-power-cycle")
            after = "the power cycle"
            for marker in markers:
                hit = watcher.wait_for(marker, cursor, failures, should_stop, after)
                detail["markers"].append({"name": hit.name, "seconds": round(hit.seconds, 3),
                                          "line": hit.line})
                self._say(f"{label}: {hit.name} after {hit.seconds:.1f} s: {hit.line[:80]}")
                cursor, after = hit.end, f"marker {marker.name!r}"
                self._save()
            detail["console_connections"] = watcher.connections

    def _roll_back(self, backup: Backup, failure: BaseException) -> None:
        if isinstance(failure, WarmbootError):
            reason = _one_line(failure)
        else:
            reason = self._internal_error(failure)
        self.record.error_type = type(failure).__name__
        self.record.rollback = {"reason": reason, "flash_restored": False, "booted": False,
                                "backup_sha256": backup.sha256}
        self._say(f"rolling back: {reason}")
        if self.place.power.off_while_flashing:
            # Still try to write if this fails: restoring the backup matters more.
            with contextlib.suppress(Exception), self.step("rollback-power-off"):
                self.power.off("rollback-power-off")
        restore_error: BaseException | None = None
        for attempt in range(1, ROLLBACK_WRITE_ATTEMPTS + 1):
            try:
                with self.step("rollback-write", attempt=attempt):
                    self.flashrom.write(backup.data, "rollback-write", whole_chip=True)
                with self.step("rollback-verify", attempt=attempt):
                    self.flashrom.verify(backup.data, "rollback-verify", whole_chip=True)
            except Exception as exc:  # noqa: BLE001 - try again, then report BRICKED
                restore_error = exc
                continue
            restore_error = None
            break
        if restore_error is not None:
            self._bricked(reason, f"the rollback could not restore the flash: "
                                  f"{_one_line(restore_error)}", backup, flash_restored=False)
            return
        self.record.rollback["flash_restored"] = True
        try:
            with self.step("rollback-boot-check") as step:
                self._boot_check(self.place.boot.rollback_markers, "rollback-boot", step.detail)
        except Exception as exc:  # noqa: BLE001 - any failure here means: may not boot
            self._bricked(reason, f"the previous image is back on the flash and verified, but "
                                  f"the board did not boot it: {_one_line(exc)}", backup,
                          flash_restored=True)
            return
        self.record.rollback["booted"] = True
        self._finish(Outcome.ROLLED_BACK,
                     f"{reason}; restored the previous image (sha256 {backup.sha256}), "
                     "verified it and saw it boot", failure)

    def _bricked(self, reason: str, what: str, backup: Backup, *, flash_restored: bool) -> None:
        settings = self.place.flashrom
        self.record.next_steps = [
            "Do not hand this board back to CI until it boots again.",
            f"Recover the flash with an external programmer: flashrom -p <programmer> -c "
            f"\"{settings.chip}\" -w {backup.path}",
            f"The backup must have sha256 {backup.sha256} (check with sha256sum before "
            "writing it).",
            f"Logs: {self.request.run_dir / 'logs'}; console: "
            f"{self.request.run_dir / 'console'}.",
        ]
        if flash_restored:
            self.record.next_steps.insert(1, "The flash holds the previous image, verified: "
                                             "check power and console wiring first; the board "
                                             "may not have booted before this run either.")
        self._finish(Outcome.BRICKED, f"{reason}; {what}. The board may be bricked: recover "
                                      f"it from the backup {backup.path} (sha256 "
                                      f"{backup.sha256})")

    def _commit_state(self, verified: VerifiedRelease) -> None:
        """Advance the rollback state only now that the board booted the release."""
        request = self.request
        if request.state_file is None or self._trusted is None or self._staged is None:
            return
        try:
            with self.step("commit-state", state=str(request.state_file)):
                verify_release(self._staged, self._trusted, board=self.place.board,
                               state_file=request.state_file, commit_state=True,
                               flash_size=self.place.flashrom.size,
                               allow_expired=request.allow_expired,
                               allow_version_downgrade=request.allow_version_downgrade)
        except ReleaseError as exc:
            self.record.warnings.append(f"the board runs {verified.payload.version}, but the "
                                        f"rollback state {request.state_file} was not "
                                        f"advanced: {_one_line(exc)}")
            self.record.failed_step = None


def flash_place(request: FlashRequest, signals: DeferredSignals | None = None) -> RunRecord:
    """Run the whole flow for one place; the outcome is in the returned (and written) record."""
    run = FlashRun(request, signals or DeferredSignals())
    run._save()
    if run.record_error:
        raise ConfigError(f"run directory {request.run_dir}: {run.record_error}")
    record = run.execute()
    if run.record_error:
        record.warnings.append(run.record_error)
    return record
