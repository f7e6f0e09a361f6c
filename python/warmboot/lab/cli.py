"""`warmboot-lab`: flash signed warmboot releases onto lab boards without losing a board.

    warmboot-lab flash --config lab.toml --place NAME --release URL [--root ROOT.json]
                       [--state STATE.json] [--run-dir DIR] [--allow-expired]
                       [--allow-version-downgrade] [--no-progress] [--verbose]
    warmboot-lab recover --config lab.toml --place NAME [--run-dir DIR]
                         [--backup FILE --sha256 HEX] [--verbose]
    warmboot-lab places [--config lab.toml] [--json]
    warmboot-lab console [--config lab.toml] --place NAME [--power-cycle] [--until REGEX]
                         [--timeout SECONDS] [--log FILE]

`--config` defaults to $WARMBOOT_LAB_CONFIG. Every failure is one line on
stderr and a non-zero exit status, never a traceback; `flash` exits with the
status of its outcome (record.EXIT_CODES, docs/lab.md) and always writes
<run-dir>/result.json once its run directory is known, or says on stderr
that it could not. `recover` writes a place's last known-good backup back
after a run died mid-write, with the same statuses.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import re
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ..errors import WarmbootError
from ..fsutil import ensure_private_dir
from .commands import CommandRunner
from .config import BootMarker, LabConfig, Place, load_lab_config
from .console import ConsoleWatcher
from .errors import ConfigError, one_line
from .flashrom import format_size
from .flow import FlashRequest, PlaceRun, RecoverRequest, flash_run, recover_run
from .journal import FlashState, journal_path, load_journal
from .lock import hold_place_lock, lock_holder
from .power import PowerControl
from .record import EXIT_CODES, RECORD_FILE, Outcome, RunRecord

PROG = "warmboot-lab"
CONFIG_ENV = "WARMBOOT_LAB_CONFIG"
EXIT_ERROR = EXIT_CODES[Outcome.ERROR]
EXIT_INTERRUPTED = 130


def _config(args: argparse.Namespace) -> LabConfig:
    path = args.config or os.environ.get(CONFIG_ENV)
    if not path:
        raise ConfigError(f"no lab configuration: pass --config or set ${CONFIG_ENV}")
    return load_lab_config(path)


def default_run_dir(runs: Path, place: str) -> Path:
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    return runs / place / f"{stamp}-{os.getpid()}"


def _quiet_release_logger() -> None:
    # verify_release logs its override warnings; the record and our own
    # "warning:" lines carry them, so Python's last-resort handler must not
    # print them a second time.
    logger = logging.getLogger("warmboot.release")
    if not logger.handlers:
        logger.addHandler(logging.NullHandler())


def _write_error_record(args: argparse.Namespace, message: str, error: BaseException) -> str:
    """A configuration error still leaves a record when --run-dir names where."""
    if not args.run_dir:
        return ""
    record = RunRecord(
        place=args.place,
        board="",
        release_url=getattr(args, "release", ""),
        run_dir=Path(args.run_dir),
        config=args.config and Path(args.config),
        command=args.command,
    )
    record.error_type = type(error).__name__
    record.finish(Outcome.ERROR, message)
    if record.path.exists():
        return f" (record {record.path})"  # the run wrote its own
    try:
        ensure_private_dir(record.run_dir)
        record.write()
    except (OSError, WarmbootError) as exc:
        return f" (the record {record.path} could not be written: {one_line(exc)})"
    return f" (record {record.path})"


def _run_dir(args: argparse.Namespace, config: LabConfig, place: Place) -> Path:
    run_dir = Path(args.run_dir) if args.run_dir else default_run_dir(config.lab.runs, place.name)
    if (run_dir / RECORD_FILE).exists():
        raise ConfigError(f"{run_dir} already holds a result record; use a new --run-dir")
    return run_dir


def _report(args: argparse.Namespace) -> Callable[[str], None] | None:
    if not args.verbose:
        return None
    return lambda line: print(f"{PROG}: {line}", file=sys.stderr, flush=True)


def _print_outcome(run: PlaceRun) -> int:
    record = run.record
    for warning in record.warnings:
        print(f"{PROG}: warning: {one_line(warning)}", file=sys.stderr)
    where = f"record {record.path}"
    if run.record_error:
        # The file on disk may still say RUNNING: say so rather than point at it.
        where = f"the record {record.path} does not show this outcome: {run.record_error}"
    line = f"{PROG}: {record.outcome.value}: {record.message} ({where})"
    print(line, file=sys.stdout if record.outcome is Outcome.OK else sys.stderr)
    return record.exit_code if record.exit_code is not None else EXIT_ERROR


def _run_and_report(args: argparse.Namespace, start: Callable[[], PlaceRun]) -> int:
    """Start a flash or recover run; its outcome, or an error before it could start."""
    try:
        run = start()
    except WarmbootError as exc:
        message = one_line(exc)
        where = _write_error_record(args, message, exc)
        print(f"{PROG}: ERROR: {message}{where}", file=sys.stderr)
        return EXIT_ERROR
    return _print_outcome(run)


def _flash(args: argparse.Namespace) -> int:
    def start() -> PlaceRun:
        config = _config(args)
        place = config.place(args.place)
        root = Path(args.root) if args.root else config.lab.root
        if root is None:
            raise ConfigError("no trusted release root: pass --root or set root in [lab]")
        request = FlashRequest(
            place=place,
            release_url=args.release,
            trusted_root=root,
            run_dir=_run_dir(args, config, place),
            lock_dir=config.lab.locks,
            cache_dir=config.lab.cache,
            state_file=Path(args.state) if args.state else config.lab.state,
            config_path=config.path,
            allow_expired=args.allow_expired,
            allow_version_downgrade=args.allow_version_downgrade,
            download_timeout=config.lab.download_timeout,
            download_max_seconds=config.lab.download_max_seconds,
            allow_cross_host_redirects=config.lab.allow_cross_host_redirects,
            progress=False if args.no_progress else None,
            report=_report(args),
            journal=journal_path(config.lab.runs, place.name),
        )
        _quiet_release_logger()
        return flash_run(request)

    return _run_and_report(args, start)


def _recover(args: argparse.Namespace) -> int:
    def start() -> PlaceRun:
        if (args.backup is None) != (args.sha256 is None):
            raise ConfigError(
                "--backup and --sha256 go together: the image and the hash it must have"
            )
        if args.sha256 is not None and not re.fullmatch(r"[0-9a-fA-F]{64}", args.sha256):
            raise ConfigError(f"--sha256 {args.sha256!r} is not a sha256 (64 hex digits)")
        config = _config(args)
        place = config.place(args.place)
        return recover_run(
            RecoverRequest(
                place=place,
                run_dir=_run_dir(args, config, place),
                lock_dir=config.lab.locks,
                journal=journal_path(config.lab.runs, place.name),
                config_path=config.path,
                backup=Path(args.backup).absolute() if args.backup else None,
                backup_sha256=args.sha256,
                report=_report(args),
            )
        )

    return _run_and_report(args, start)


def _places(args: argparse.Namespace) -> int:
    config = _config(args)
    rows: list[dict[str, Any]] = []
    for place in config.places.values():
        settings = place.flashrom
        journal = load_journal(journal_path(config.lab.runs, place.name), place.name)
        rows.append(
            {
                "name": place.name,
                "board": place.board,
                "description": place.description,
                "chip": settings.chip,
                "size": settings.size,
                "programmer": settings.programmer,
                # A labgrid place's console and programmer come from labgrid once acquired.
                "console": place.labgrid.describe() if place.labgrid else place.console.describe(),
                "locked_by": lock_holder(config.lab.locks, place.name),
                "flash": journal.flash.value,
            }
        )
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    header = ("PLACE", "BOARD", "CHIP", "SIZE", "CONSOLE", "STATE")
    table = [header] + [
        (
            r["name"],
            r["board"],
            r["chip"],
            format_size(r["size"]),
            r["console"],
            (f"busy: {r['locked_by']}" if r["locked_by"] else "free")
            + (
                ""
                if r["flash"] == FlashState.GOOD.value
                else f", flash {r['flash']}: needs recover"
            ),
        )
        for r in rows
    ]
    widths = [max(len(row[i]) for row in table) for i in range(len(header) - 1)]
    for row in table:
        *cells, last = row
        print(
            "  ".join(cell.ljust(width) for cell, width in zip(cells, widths, strict=True))
            + "  "
            + last
        )
    return 0


def _console(args: argparse.Namespace) -> int:
    config = _config(args)
    place = config.place(args.place)
    out = sys.stdout.buffer

    def echo(chunk: bytes) -> None:
        out.write(chunk)
        out.flush()

    log = Path(args.log) if args.log else Path(os.devnull)
    marker = BootMarker("--until", args.until, args.timeout) if args.until else None
    if marker:
        try:  # a bad pattern fails before the board is touched
            marker.compiled()
        except re.error as exc:
            raise ConfigError(f"--until {args.until!r}: {exc}") from None

    def watch() -> int:
        with ConsoleWatcher(place.console, log, echo=echo) as watcher:
            start = watcher.position
            watcher.mark_reference()
            if args.power_cycle:
                runner = CommandRunner(
                    Path(tempfile.mkdtemp(prefix=f"{PROG}-console-")),
                    {"WARMBOOT_LAB_PLACE": place.name},
                )
                PowerControl(place.power, runner, place.name).cycle()
            if marker:
                watcher.wait_for(marker, start)
                return 0
            time.sleep(args.timeout)
            return 0

    try:
        if args.power_cycle:
            # Power-cycling a board that another run is flashing would ruin that run.
            with hold_place_lock(config.lab.locks, place.name, f"{PROG} console --power-cycle"):
                return watch()
        return watch()
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=PROG, description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    def add_config(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--config", metavar="LAB.toml", help=f"lab configuration (default ${CONFIG_ENV})"
        )

    flash = sub.add_parser("flash", help="verify a release and flash it onto a place's board")
    add_config(flash)
    flash.add_argument("--place", required=True, help="the place (board) to flash")
    flash.add_argument(
        "--release",
        required=True,
        metavar="URL",
        help="the release directory, http(s)://…/dist/<board>/<version>/",
    )
    flash.add_argument(
        "--root", metavar="ROOT.json", help="trusted release root (default: root in [lab])"
    )
    flash.add_argument(
        "--state",
        metavar="STATE.json",
        help="rollback state file (default: state in [lab]); advanced only "
        "after the board booted the release",
    )
    flash.add_argument(
        "--run-dir",
        metavar="DIR",
        help="where the record, logs, backup and console logs go (default "
        "<runs>/<place>/<time>-<pid>)",
    )
    flash.add_argument(
        "--allow-expired", action="store_true", help="accept an expired release or root (logged)"
    )
    flash.add_argument(
        "--allow-version-downgrade",
        action="store_true",
        help="accept a lower version than the state recorded (logged; never "
        "a lower security_version)",
    )
    flash.add_argument("--no-progress", action="store_true", help="no download progress bar")
    flash.add_argument("-v", "--verbose", action="store_true", help="one line per step on stderr")
    flash.set_defaults(func=_flash)

    places = sub.add_parser("places", help="list the places of the lab and who holds them")
    add_config(places)
    places.add_argument("--json", action="store_true", help="machine-readable output")
    places.set_defaults(func=_places)

    recover = sub.add_parser(
        "recover",
        help="write a place's last known-good backup back "
        "after a run died mid-write, and boot-check it",
    )
    add_config(recover)
    recover.add_argument("--place", required=True, help="the place (board) to recover")
    recover.add_argument(
        "--run-dir",
        metavar="DIR",
        help="where the record and logs go (default <runs>/<place>/<time>-<pid>)",
    )
    recover.add_argument(
        "--backup",
        metavar="FILE",
        help="write this image instead of the recorded known-good backup (needs --sha256)",
    )
    recover.add_argument("--sha256", metavar="HEX", help="the sha256 --backup must have")
    recover.add_argument("-v", "--verbose", action="store_true", help="one line per step on stderr")
    recover.set_defaults(func=_recover)

    console = sub.add_parser("console", help="print a place's serial console")
    add_config(console)
    console.add_argument("--place", required=True)
    console.add_argument(
        "--power-cycle",
        action="store_true",
        help="power-cycle the board first (takes the place's lock)",
    )
    console.add_argument(
        "--until",
        metavar="REGEX",
        help="stop when this appears (status 0), or fail after --timeout",
    )
    console.add_argument("--timeout", type=float, default=60.0, metavar="SECONDS")
    console.add_argument("--log", metavar="FILE", help="also write the console to FILE")
    console.set_defaults(func=_console)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except WarmbootError as exc:
        print(f"{PROG}: error: {one_line(exc)}", file=sys.stderr)
        return EXIT_ERROR
    except BrokenPipeError:
        return EXIT_ERROR


if __name__ == "__main__":
    sys.exit(main())
