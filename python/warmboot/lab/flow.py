"""Flash one place, or recover it: the flows, their state machines and their records.

flash:
    lock -> the place's journal must say its flash is good (else REFUSED)
    prepare (nothing written; any failure: REFUSED, a storage error: ERROR, a signal: CANCELLED)
        trust -> download -> verify -> [power-off] -> probe -> backup
    write (journal "writing" first; from here on every failure rolls back)
        write -> verify-flash -> boot-check -> [commit-state] -> OK
    rollback (not interruptible)
        [power-off] -> rollback-write -> rollback-verify (twice at most)
        -> rollback-boot-check -> ROLLED_BACK, or BRICKED when any of it fails

A labgrid place (lab/labgrid.py) is acquired on its coordinator right after
the lock and released on every way out; its resources give the programmer,
the console and the power commands. A region-only release (lenovo-x230, the
BIOS region; lab/regions.py) adds a `regions` step after the backup, and its
writes, verifies, rollbacks and recoveries touch only that region.

recover (for a place whose last run died mid-write or ended BRICKED):
    lock -> backup-check (the last known-good backup, its recorded sha256)
    -> [power-off] -> probe -> recover-write -> recover-verify (twice at most)
    -> recover-boot-check -> OK, or BRICKED

The image written is `VerifiedRelease.image`, the bytes verify_release hashed;
the backup written by a rollback is the in-memory copy of two identical
reads. The journal (journal.py) remembers across crashes that a write began.
docs/lab.md describes each step, outcome and the record.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import traceback
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ..errors import WarmbootError
from ..fsutil import (
    PathError,
    check_private_dir,
    ensure_private_dir,
    read_capped_nofollow,
    write_new,
)
from ..release import ReleaseError, RollbackState, SignedRoot, VerifiedRelease, verify_release
from ..release.encoding import format_timestamp
from ..release.root import load_root_file
from ..release.state import load_state
from .commands import CommandRun, CommandRunner, utc_timestamp
from .config import BootMarker, Place
from .console import ConsoleWatcher
from .download import DownloadCache, fetch_release
from .errors import (
    BackupError,
    ConfigError,
    LabgridError,
    PlaceBusyError,
    RunInterruptedError,
    StorageError,
    UnfinishedWriteError,
    one_line,
)
from .flashrom import Flashrom, format_size, select_chip
from .journal import FlashState, GoodBackup, PlaceJournal, load_journal, save_journal
from .labgrid import Acquisition, acquired_place
from .lock import PlaceLock, hold_place_lock
from .power import PowerControl
from .record import Outcome, RunRecord, StepRecord
from .regions import RegionPlan, check_chip_descriptor, plan_region_write
from .signals import DeferredSignals

ROLLBACK_WRITE_ATTEMPTS = 2  # a flaky clip may fail once; the backup is worth a retry
BACKUP_FILE = "backup.rom"
BACKUP_REREAD_FILE = "backup-reread.rom"
JOURNAL_NAME = "place.json"


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
    download_max_seconds: float = 900.0  # the whole download, wall clock
    allow_cross_host_redirects: bool = False
    progress: bool | None = None
    report: Callable[[str], None] | None = None  # one line per step, for --verbose
    # The place's journal, <runs>/<place>/place.json (None: beside the run directory,
    # which is that file for the default run directory <runs>/<place>/<time>-<pid>).
    journal: Path | None = None


@dataclass(frozen=True)
class RecoverRequest:
    place: Place
    run_dir: Path
    lock_dir: Path
    journal: Path
    config_path: Path | None = None
    # An explicit image instead of the journal's known-good backup (both or neither).
    backup: Path | None = None
    backup_sha256: str | None = None
    report: Callable[[str], None] | None = None


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
        "url": url,
        "board": payload.board.name,
        "version": str(payload.version),
        "security_version": payload.security_version,
        "expires": format_timestamp(payload.expires),
        "flash_size": payload.board.flash_size,
        "image_sha256": payload.image.sha256,
        "image_length": payload.image.length,
        "manifest_sha256": payload.manifest.sha256,
        "payload_sha256": verified.payload_sha256,
        "root_version": verified.root_version,
        "root_fingerprint": verified.root_fingerprint,
        "signed_by": list(verified.signed_by),
    }


def first_difference(a: bytes, b: bytes, block: int = 4096) -> tuple[int, int]:
    """(offset of the first differing byte, number of differing bytes) of equal-length data."""
    first, count = -1, 0
    for start in range(0, min(len(a), len(b)), block):
        left, right = a[start : start + block], b[start : start + block]
        if left == right:  # compare whole blocks in C; look at bytes only where they differ
            continue
        for index, (x, y) in enumerate(zip(left, right, strict=False)):
            if x != y:
                first = start + index if first < 0 else first
                count += 1
    return first, count


def prepare_run_dir(run_dir: Path) -> None:
    """A new or empty run directory that only this user can write to, so no file in it
    was planted by someone else."""
    try:
        ensure_private_dir(run_dir.parent)
        try:
            os.mkdir(run_dir, 0o755)
        except FileExistsError:
            check_private_dir(run_dir)
            with os.scandir(run_dir) as entries:
                if next(entries, None) is not None:
                    raise PathError(run_dir, "is not empty; use a new run directory") from None
        check_private_dir(run_dir)
    except PathError as exc:
        raise StorageError(f"run directory {exc}") from None
    except OSError as exc:
        raise StorageError(f"run directory {run_dir}: {exc.strerror}") from None


class PlaceRun:
    """What a flash and a recovery share: the record, the lock, the journal, the tools."""

    command = "flash"

    def __init__(
        self,
        place: Place,
        run_dir: Path,
        lock_dir: Path,
        journal: Path,
        config_path: Path | None,
        release_url: str,
        report: Callable[[str], None] | None,
        signals: DeferredSignals,
    ):
        self.place = place
        self.run_dir = run_dir
        self.lock_dir = lock_dir
        self.journal_path = journal
        self.report = report
        self.signals = signals
        self.record = RunRecord(
            place=place.name,
            board=place.board,
            release_url=release_url,
            run_dir=run_dir,
            config=config_path,
            command=self.command,
        )
        env = {"WARMBOOT_LAB_PLACE": place.name, "WARMBOOT_LAB_RUN_DIR": str(run_dir)}
        self.runner = CommandRunner(run_dir / "logs", env, self._command_finished)
        self._use_place(place)
        self.journal = PlaceJournal(place.name)
        self.record_error: str | None = None  # why the last record write failed
        self._step: StepRecord | None = None

    def _use_place(self, place: Place, lock: PlaceLock | None = None) -> None:
        """The place the tools act on: the configured one, or a labgrid place resolved
        once acquired (its programmer, console and power from its resources)."""
        self.place = place
        self.flashrom = Flashrom(place.flashrom, self.runner, place.name, lock)
        self.power = PowerControl(place.power, self.runner, place.name)

    @contextlib.contextmanager
    def _place_held(self, lock: PlaceLock) -> Iterator[None]:
        """For a labgrid place: acquired on the coordinator for the block, released on
        every way out (the record names the coordinator, the place and the resources)."""
        if self.place.labgrid is None:
            yield
            return
        acquisitions: list[Acquisition] = []
        try:
            with acquired_place(
                self.place, self.run_dir, self.journal_path.parent, self.command, acquisitions
            ) as resolved:
                self.record.labgrid = acquisitions[0].as_record()
                self._use_place(resolved, lock)
                self._save()
                yield
        finally:
            if acquisitions:
                acquisition = acquisitions[0]
                self.record.labgrid = acquisition.as_record()
                if acquisition.acquired and acquisition.release_error:
                    self.record.warnings.append(
                        f"the labgrid place {acquisition.place} was not released: "
                        f"{acquisition.release_error}; release it with `labgrid-client -x "
                        f"{acquisition.coordinator} -p {acquisition.place} release`"
                    )
                self._save()

    # -- record -----------------------------------------------------------------
    def _save(self) -> None:
        # Never let a full disk stop a rollback: remember the error; before the
        # write, _checkpoint() turns it into a stop.
        try:
            self.record.write()
        except (OSError, WarmbootError) as exc:
            self.record_error = f"cannot write the record: {one_line(exc)}"
        else:
            self.record_error = None

    def _command_finished(self, run: CommandRun) -> None:
        self.record.commands.append(
            {"step": self._step.name if self._step else None, **run.as_record()}
        )
        self._save()

    def _say(self, line: str) -> None:
        if self.report:
            self.report(f"{self.place.name}: {line}")

    @contextlib.contextmanager
    def step(self, name: str, **detail: Any) -> Iterator[StepRecord]:
        step = StepRecord(name, utc_timestamp(), detail=dict(detail))
        self.record.steps.append(step)
        self._step = step
        self._save()
        self._say(f"{name} ...")
        began = datetime.now(UTC)
        try:
            yield step
        except BaseException as exc:
            step.status, step.error = "failed", one_line(exc)
            self.record.failed_step = self.record.failed_step or name
            raise
        else:
            step.status = "ok"
        finally:
            step.seconds = (datetime.now(UTC) - began).total_seconds()
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
        """Between two steps before the write: stop for a signal or an unwritable record."""
        if self.signals.received:
            raise RunInterruptedError(f"{self.signals.received} received")
        if self.record_error:
            raise StorageError(self.record_error)

    def _internal_error(self, error: BaseException) -> str:
        path = self.run_dir / "traceback.txt"
        with contextlib.suppress(WarmbootError, OSError):
            write_new(path, "".join(traceback.format_exception(error)).encode())
        return f"internal error {type(error).__name__}: {one_line(error)} (traceback in {path})"

    # -- journal ----------------------------------------------------------------
    def _set_flash(
        self,
        flash: FlashState,
        *,
        step: str | None = None,
        reason: str | None = None,
        required: bool = False,
    ) -> None:
        """Record the chip's state in the journal. Before a write it is `required`
        (StorageError: the write must not start unremembered); after, a failure
        leaves "writing" behind, which makes the next run refuse: the safe side."""
        journal = self.journal.with_flash(
            flash, run_dir=str(self.run_dir), since=utc_timestamp(), step=step, reason=reason
        )
        try:
            save_journal(self.journal_path, journal)
        except StorageError as exc:
            if required:
                raise
            self.record.warnings.append(
                f"the place journal was not updated to {flash.value!r}: {one_line(exc)}"
            )
            return
        self.journal = journal

    def _load_journal(self) -> PlaceJournal:
        try:
            ensure_private_dir(self.journal_path.parent)
        except PathError as exc:
            raise StorageError(f"place journal directory {exc}") from None
        self.journal = load_journal(self.journal_path, self.place.name)
        return self.journal

    # -- the run ----------------------------------------------------------------
    def execute(self) -> RunRecord:
        with self.signals:
            try:
                with hold_place_lock(
                    self.lock_dir, self.place.name, f"run {self.run_dir} ({self.command})"
                ) as lock:
                    # Every flashrom holds the lock too: no second writer while one lives.
                    self.flashrom.lock = lock
                    with self._place_held(lock):
                        self._run_locked()
            except PlaceBusyError as exc:
                self._finish(Outcome.BUSY, f"{exc}; nothing was done", exc)
            except (StorageError, LabgridError) as exc:
                self._finish(Outcome.ERROR, f"{exc}; nothing was done", exc)
        return self.record

    def _run_locked(self) -> None:
        raise NotImplementedError

    def _end_before_write(self, error: BaseException) -> None:
        """The outcome of a failure before anything was written."""
        if isinstance(error, RunInterruptedError):
            self._finish(Outcome.CANCELLED, f"{error} before the write: nothing was written", error)
        elif isinstance(error, (ConfigError, StorageError, PathError)):
            self._finish(Outcome.ERROR, f"{error}; nothing was written", error)
        elif isinstance(error, WarmbootError):
            self._finish(Outcome.REFUSED, f"{error}; nothing was written", error)
        else:
            self._finish(
                Outcome.ERROR, f"{self._internal_error(error)}; nothing was written", error
            )

    def _probe(self) -> None:
        if self.place.power.off_while_flashing:
            with self.step("power-off"):
                self.power.off()
        with self.step("probe") as step:
            found = self.flashrom.probe()
            step.detail["found"] = [chip.as_record() for chip in found]
            chip = select_chip(found, self.place.flashrom.chip, self.place.flashrom.size)
            self.record.chip = chip.as_record()
        self._checkpoint()

    def _restore_flash(self, backup: Backup, prefix: str) -> BaseException | None:
        """Write and verify `backup` on the whole chip (twice at most); the last error."""
        error: BaseException | None = None
        # A place that writes Intel-descriptor regions restores those regions only: the
        # others (descriptor, ME, GbE) were never written, the descriptor that bounds the
        # regions is unchanged, and a locked descriptor would refuse writes outside them.
        # An FMAP layout comes from the chip, which may now hold another FMAP: whole chip.
        whole = self.place.flashrom.layout != "ifd"
        for attempt in range(1, ROLLBACK_WRITE_ATTEMPTS + 1):
            try:
                with self.step(f"{prefix}-write", attempt=attempt):
                    self.flashrom.write(backup.data, f"{prefix}-write", whole_chip=whole)
                with self.step(f"{prefix}-verify", attempt=attempt):
                    self.flashrom.verify(backup.data, f"{prefix}-verify", whole_chip=whole)
            except Exception as exc:  # noqa: BLE001 -- try again, then report BRICKED
                error = exc
                continue
            return None
        return error

    def _restore_and_boot(self, backup: Backup, prefix: str, reason: str, image: str) -> bool:
        """Write, verify and boot-check `backup` (a rollback or a recovery); on any
        failure the run ends BRICKED and this returns False."""
        restore_error = self._restore_flash(backup, prefix)
        what = "rollback" if prefix == "rollback" else "recovery"
        if restore_error is not None:
            self._bricked(
                reason,
                f"the {what} could not restore the flash: {one_line(restore_error)}",
                backup,
                flash_restored=False,
            )
            return False
        if self.record.rollback is not None:
            self.record.rollback["flash_restored"] = True
        try:
            with self.step(f"{prefix}-boot-check") as step:
                self._boot_check(self.place.boot.rollback_markers, f"{prefix}-boot", step.detail)
        except Exception as exc:  # noqa: BLE001 -- any failure here means: may not boot
            self._bricked(
                reason,
                f"{image} is back on the flash and verified, but the board "
                f"did not boot it: {one_line(exc)}",
                backup,
                flash_restored=True,
            )
            return False
        self._set_flash(FlashState.GOOD)
        return True

    def _boot_check(
        self,
        markers: Sequence[BootMarker],
        label: str,
        detail: dict[str, Any],
        should_stop: Callable[[], bool] = lambda: False,
    ) -> None:
        """Power-cycle the board and wait for each marker in turn; fills `detail` as it goes."""
        log = self.run_dir / "console" / f"{label}.log"
        failures = [re.compile(pattern.encode()) for pattern in self.place.boot.failures]
        detail.update(console=self.place.console.describe(), console_log=str(log), markers=[])
        with ConsoleWatcher(self.place.console, log, run_log=True) as watcher:
            try:
                cursor = watcher.position
                watcher.mark_reference()
                self.power.cycle(f"{label}-power-cycle")
                after = "the power cycle"
                for marker in markers:
                    hit = watcher.wait_for(marker, cursor, failures, should_stop, after)
                    detail["markers"].append(
                        {"name": hit.name, "seconds": round(hit.seconds, 3), "line": hit.line}
                    )
                    self._say(f"{label}: {hit.name} after {hit.seconds:.1f} s: {hit.line[:80]}")
                    cursor, after = hit.end, f"marker {marker.name!r}"
                    self._save()
                detail["console_connections"] = watcher.connections
            finally:
                if watcher.log_error:
                    detail["console_log_error"] = watcher.log_error

    def _bricked(self, reason: str, what: str, backup: Backup, *, flash_restored: bool) -> None:
        settings = self.place.flashrom
        self.record.next_steps = [
            "Do not hand this board back to CI until it boots again.",
            f"Recover the flash with an external programmer: flashrom -p <programmer> -c "
            f'"{settings.chip}" -w {backup.path}',
            f"The backup must have sha256 {backup.sha256} (check with sha256sum before "
            "writing it).",
            f"Once the programmer works again, `warmboot-lab recover --place "
            f"{self.place.name}` writes and verifies that backup and boot-checks it; until "
            "then warmboot-lab refuses to flash this place.",
            f"Logs: {self.run_dir / 'logs'}; console: {self.run_dir / 'console'}.",
        ]
        if flash_restored:
            self.record.next_steps.insert(
                1,
                "The flash holds the previous image, verified: "
                "check power and console wiring first; the board "
                "may not have booted before this run either.",
            )
        self._set_flash(FlashState.SUSPECT, reason=f"{reason}; {what}")
        self._finish(
            Outcome.BRICKED,
            f"{reason}; {what}. The board may be bricked: recover "
            f"it from the backup {backup.path} (sha256 "
            f"{backup.sha256})",
        )


class FlashRun(PlaceRun):
    """One `warmboot-lab flash`: verify a release, back the chip up, write, boot-check."""

    command = "flash"

    def __init__(self, request: FlashRequest, signals: DeferredSignals):
        super().__init__(
            request.place,
            request.run_dir,
            request.lock_dir,
            request.journal or request.run_dir.parent / JOURNAL_NAME,
            request.config_path,
            request.release_url,
            request.report,
            signals,
        )
        self.request = request
        self._trusted: SignedRoot | None = None
        self._staged: Path | None = None

    def _run_locked(self) -> None:
        try:
            self._check_place()
            verified, backup = self._prepare()
            # Remembered before the first byte goes to the chip, or not written at all.
            self._set_flash(FlashState.WRITING, step="write", required=True)
        except Exception as exc:  # noqa: BLE001 -- a bug must still end in a record
            self._end_before_write(exc)
        else:
            self._flash(verified, backup)

    def _check_place(self) -> None:
        """Refuse a chip that a previous run left half written or unrestored."""
        journal = self._load_journal()
        if journal.flash is FlashState.GOOD:
            return
        name = self.place.name
        good = journal.good_backup
        if good is None:
            how = (
                f"no known-good backup is recorded: recover the chip with an external "
                f"programmer, then run `warmboot-lab recover --place {name} --backup FILE "
                "--sha256 HEX`"
            )
        else:
            how = (
                f"run `warmboot-lab recover --place {name}` to write the last known-good "
                f"backup {good.path} (sha256 {good.sha256}) and boot-check it"
            )
        raise UnfinishedWriteError(
            f"place {name}: {journal.describe()}. A flash is refused "
            f"(its backup would be a read-back of that chip); {how}"
        )

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
        with self.step(
            "trust",
            root=str(request.trusted_root),
            state=None if request.state_file is None else str(request.state_file),
        ):
            self._trusted, state = self._load_trust()
        self._checkpoint()
        with self.step("download", url=request.release_url) as step:
            fetched = fetch_release(
                request.release_url,
                self.run_dir / "release",
                self._trusted,
                board=place.board,
                flash_size=place.flashrom.size,
                state=state,
                now=datetime.now(UTC),
                allow_expired=request.allow_expired,
                allow_version_downgrade=request.allow_version_downgrade,
                cache=DownloadCache(request.cache_dir),
                timeout=request.download_timeout,
                max_seconds=request.download_max_seconds,
                progress=request.progress,
                should_stop=self._interrupted,
                allow_cross_host_redirects=request.allow_cross_host_redirects,
            )
            step.detail["files"] = [f.as_record() for f in fetched.files]
            step.detail["redirects"] = list(fetched.redirects)
            self._staged = fetched.directory
        self._checkpoint()
        with self.step("verify") as step:
            verified = verify_release(
                fetched.directory,
                self._trusted,
                board=place.board,
                state_file=request.state_file,
                flash_size=place.flashrom.size,
                allow_expired=request.allow_expired,
                allow_version_downgrade=request.allow_version_downgrade,
            )
            self.record.release = release_record(verified, fetched.url)
            self.record.warnings += verified.warnings
            # A region-only release must fit the place before the chip is touched.
            plan = plan_region_write(verified, place)
            if plan is not None:
                step.detail["region"] = plan.as_record()
        self._checkpoint()
        self._probe()
        with self.step("backup") as step:
            backup = self._read_backup()
            step.detail.update(backup.as_record())
        self._checkpoint()
        if plan is not None:
            self._check_regions(plan, backup)
        return verified, backup

    def _check_regions(self, plan: RegionPlan, backup: Backup) -> None:
        """The chip's own descriptor must put the region where the image has it."""
        with self.step("regions", **plan.as_record()) as step:
            step.detail["descriptor"] = check_chip_descriptor(plan, backup.data, self.place.name)
        self._checkpoint()

    def _read_backup(self) -> Backup:
        """Read the flash twice; only two identical reads of the full size make a backup.

        Anything else is deleted: a short or unstable read must never be
        mistaken for a backup later.
        """
        size = self.place.flashrom.size
        path = self.run_dir / BACKUP_FILE
        reread = self.run_dir / BACKUP_REREAD_FILE
        try:
            first = self.flashrom.read(path, "read-backup-1")
            self._checkpoint()  # a read of a large chip over a slow programmer takes minutes
            second = self.flashrom.read(reread, "read-backup-2")
            for data in (first, second):
                if len(data) != size:
                    raise BackupError(
                        f"flashrom read {len(data)} bytes, not the chip's "
                        f"{format_size(size)}; the short read was deleted"
                    )
            if first != second:
                offset, count = first_difference(first, second)
                raise BackupError(
                    f"two reads of the flash differ ({count} bytes, the first "
                    f"at offset {offset:#x}): the connection to the chip is "
                    "unreliable"
                )
        except BaseException:
            for unusable in (path, reread):
                with contextlib.suppress(OSError):
                    unusable.unlink()
            raise
        reread.unlink()
        backup = Backup(path, first, hashlib.sha256(first).hexdigest())
        self.record.backup = backup.as_record()
        # The chip is in the GOOD state (checked at the start): this is a good backup.
        self.journal = replace(
            self.journal,
            good_backup=GoodBackup(
                str(path), backup.sha256, len(first), str(self.run_dir), utc_timestamp()
            ),
        )
        return backup

    def _flash(self, verified: VerifiedRelease, backup: Backup) -> None:
        place = self.place
        self.record.write_started = True
        self.signals.phase = "write"
        try:
            with self.step(
                "write", layout=place.flashrom.layout, regions=list(place.flashrom.regions)
            ):
                self.flashrom.write(verified.image, "write")
            with self.step("verify-flash"):
                self.flashrom.verify(verified.image, "verify-flash")
            if self.signals.received:
                raise RunInterruptedError(
                    f"{self.signals.received} received during the write "
                    "(the write and its verify completed)"
                )
            self.signals.phase = "boot-check"
            with self.step("boot-check") as step:
                self._boot_check(
                    place.boot.markers, "boot", step.detail, should_stop=self._interrupted
                )
        except Exception as failure:  # noqa: BLE001 -- every failure after the write rolls back
            self.signals.phase = "rollback"
            self._roll_back(backup, failure)
            return
        self._set_flash(FlashState.GOOD)
        self._commit_state(verified)
        seconds = sum(
            step.seconds or 0
            for step in self.record.steps
            if step.name in ("write", "verify-flash", "boot-check")
        )
        self._finish(
            Outcome.OK,
            f"place {place.name} runs {place.board} "
            f"{verified.payload.version} (image sha256 "
            f"{verified.payload.image.sha256}): written, verified "
            f"and booted to its last marker; {seconds:.1f} s from write "
            "to boot",
        )

    def _roll_back(self, backup: Backup, failure: BaseException) -> None:
        if isinstance(failure, WarmbootError):
            reason = one_line(failure)
        else:
            reason = self._internal_error(failure)
        self.record.error_type = type(failure).__name__
        self.record.rollback = {
            "reason": reason,
            "flash_restored": False,
            "booted": False,
            "backup_sha256": backup.sha256,
        }
        self._say(f"rolling back: {reason}")
        if self.place.power.off_while_flashing:
            # Still try to write if this fails: restoring the backup matters more.
            with contextlib.suppress(Exception), self.step("rollback-power-off"):
                self.power.off("rollback-power-off")
        self._set_flash(FlashState.WRITING, step="rollback-write")
        if not self._restore_and_boot(backup, "rollback", reason, "the previous image"):
            return
        self.record.rollback["booted"] = True
        self._finish(
            Outcome.ROLLED_BACK,
            f"{reason}; restored the previous image (sha256 {backup.sha256}), "
            "verified it and saw it boot",
            failure,
        )

    def _commit_state(self, verified: VerifiedRelease) -> None:
        """Advance the rollback state only now that the board booted the release."""
        request = self.request
        if request.state_file is None or self._trusted is None or self._staged is None:
            return
        try:
            with self.step("commit-state", state=str(request.state_file)):
                verify_release(
                    self._staged,
                    self._trusted,
                    board=self.place.board,
                    state_file=request.state_file,
                    commit_state=True,
                    flash_size=self.place.flashrom.size,
                    allow_expired=request.allow_expired,
                    allow_version_downgrade=request.allow_version_downgrade,
                )
        except ReleaseError as exc:
            self.record.warnings.append(
                f"the board runs {verified.payload.version}, but the "
                f"rollback state {request.state_file} was not "
                f"advanced: {one_line(exc)}"
            )
            self.record.failed_step = None


class RecoverRun(PlaceRun):
    """One `warmboot-lab recover`: write the last known-good backup onto a chip a run
    left half written or unrestored, verify it and boot-check it. Never reads the
    suspect chip's contents."""

    command = "recover"

    def __init__(self, request: RecoverRequest, signals: DeferredSignals):
        super().__init__(
            request.place,
            request.run_dir,
            request.lock_dir,
            request.journal,
            request.config_path,
            "",
            request.report,
            signals,
        )
        self.request = request

    def _run_locked(self) -> None:
        try:
            with self.step("backup-check") as step:
                backup = self._load_backup(self._load_journal())
                step.detail.update(backup.as_record())
            self._checkpoint()
            self._probe()
            self._set_flash(FlashState.WRITING, step="recover-write", required=True)
        except Exception as exc:  # noqa: BLE001 -- a bug must still end in a record
            self._end_before_write(exc)
        else:
            self._recover(backup)

    def _load_backup(self, journal: PlaceJournal) -> Backup:
        """The image to write: --backup, or the journal's known-good backup; its bytes
        must have the expected sha256 and the chip's size."""
        name, request = self.place.name, self.request
        if request.backup is not None:
            path, sha256 = request.backup, (request.backup_sha256 or "").lower()
        elif journal.flash is FlashState.GOOD:
            raise UnfinishedWriteError(
                f"place {name}: its flash is not suspect (no run ended "
                "mid-write or unrestored), so there is nothing to "
                "recover; to write an image anyway pass --backup FILE "
                "--sha256 HEX"
            )
        elif journal.good_backup is None:
            raise BackupError(
                f"place {name}: {journal.describe()}, and no known-good backup "
                "is recorded; pass --backup FILE --sha256 HEX"
            )
        else:
            path, sha256 = Path(journal.good_backup.path), journal.good_backup.sha256
        self.record.recovery = {"journal": journal.as_json(), "backup": str(path), "sha256": sha256}
        size = self.place.flashrom.size
        try:
            data = read_capped_nofollow(path, size)
        except PathError as exc:
            raise BackupError(f"cannot read the backup {exc}") from None
        if len(data) != size:
            raise BackupError(
                f"the backup {path} is {len(data)} bytes, not the chip's {format_size(size)}"
            )
        actual = hashlib.sha256(data).hexdigest()
        if actual != sha256:
            raise BackupError(
                f"the backup {path} has sha256 {actual}, not the recorded "
                f"{sha256}: it changed since it was taken"
            )
        return Backup(path, data, actual)

    def _recover(self, backup: Backup) -> None:
        self.record.write_started = True
        self.signals.phase = "recover"
        reason = f"recovering place {self.place.name} from the backup {backup.path}"
        if not self._restore_and_boot(backup, "recover", reason, "the backup"):
            return
        self._finish(
            Outcome.OK,
            f"place {self.place.name} recovered: wrote the backup "
            f"{backup.path} (sha256 {backup.sha256}), verified it and saw "
            "it boot",
        )


def _start(run: PlaceRun) -> RunRecord:
    prepare_run_dir(run.run_dir)
    run._save()
    if run.record_error:
        raise StorageError(f"run directory {run.run_dir}: {run.record_error}")
    return run.execute()


def flash_place(request: FlashRequest, signals: DeferredSignals | None = None) -> RunRecord:
    """Run the whole flow for one place; the outcome is in the returned (and written) record."""
    run = flash_run(request, signals)
    if run.record_error:
        run.record.warnings.append(run.record_error)
    return run.record


def flash_run(request: FlashRequest, signals: DeferredSignals | None = None) -> FlashRun:
    """flash_place, returning the run: its `record_error` says whether the record on
    disk missed its last update."""
    run = FlashRun(request, signals or DeferredSignals())
    _start(run)
    return run


def recover_run(request: RecoverRequest, signals: DeferredSignals | None = None) -> RecoverRun:
    run = RecoverRun(request, signals or DeferredSignals())
    _start(run)
    return run
