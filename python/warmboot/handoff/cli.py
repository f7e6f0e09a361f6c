"""`warmboot` subcommands for firmware hand-off structures.

`warmboot pmt encode | decode | validate | gen` work on preserved-memory
tables (docs/pmt.md). Handlers raise PmtError (a WarmbootError) for bad
input; warmboot.cli turns that into a one-line error and exit status 1.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from .. import pmt
from ..pmt import PmtError, PmtLimits
from ..pmt.jsonform import enum_name, flag_names
from ..pmt.spec import MACHINE_NAMES
from . import cgen

EXIT_REJECTED = 1


def register(subparsers: argparse._SubParsersAction) -> None:
    add_pmt_commands(subparsers)


def _int(text: str) -> int:
    try:
        return int(text, 0)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None


def _range(text: str) -> tuple[int, int]:
    base, sep, size = text.partition(":")
    if not sep:
        raise argparse.ArgumentTypeError(f"expected BASE:SIZE, got {text!r}")
    return _int(base), _int(size)


def _add_limits(parser: argparse.ArgumentParser) -> None:
    defaults = pmt.DEFAULT_LIMITS
    group = parser.add_argument_group("reader limits")
    group.add_argument(
        "--max-entries",
        type=_int,
        default=defaults.max_entries,
        help="reject tables with more entries (default %(default)s)",
    )
    group.add_argument(
        "--max-cpus",
        type=_int,
        default=defaults.max_cpus,
        help="reject a larger cpu_count (default %(default)s)",
    )
    group.add_argument(
        "--firmware-range",
        type=_range,
        action="append",
        default=[],
        metavar="BASE:SIZE",
        help="memory firmware needs itself (repeatable)",
    )
    group.add_argument(
        "--arm-cookie", type=_int, default=0, help="the registered cookie; a different one is STALE"
    )


def _limits(args: argparse.Namespace) -> PmtLimits:
    return PmtLimits(
        max_entries=args.max_entries,
        max_cpus=args.max_cpus,
        firmware_ranges=tuple(args.firmware_range),
        arm_cookie=args.arm_cookie,
    )


def add_pmt_commands(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "pmt",
        help="preserved-memory tables: encode, decode, validate, generate C header",
        description="Work with preserved-memory tables (docs/pmt.md).",
    )
    actions = parser.add_subparsers(dest="pmt_action", metavar="ACTION", required=True)

    encode = actions.add_parser("encode", help="JSON description -> table bytes")
    encode.add_argument("input", type=Path, help="JSON file (as `decode --json` prints)")
    encode.add_argument("-o", "--output", type=Path, required=True, help="table file to write")
    encode.add_argument(
        "--no-validate",
        action="store_true",
        help="write the table even if it breaks the rules (for test fixtures)",
    )
    _add_limits(encode)
    encode.set_defaults(func=cmd_encode)

    decode = actions.add_parser("decode", help="table bytes -> readable table or JSON")
    decode.add_argument("input", type=Path, help="table file")
    decode.add_argument("--json", action="store_true", help="print JSON instead of a table")
    _add_limits(decode)
    decode.set_defaults(func=cmd_decode)

    validate = actions.add_parser("validate", help="check a table; exit 1 if rejected")
    validate.add_argument("input", type=Path, help="table file")
    _add_limits(validate)
    validate.set_defaults(func=cmd_validate)

    gen = actions.add_parser("gen", help="regenerate payloads/libpmt/pmt.h and docs/pmt.md tables")
    gen.add_argument(
        "--check",
        action="store_true",
        help="change nothing; exit 1 if a generated file is out of date",
    )
    gen.add_argument("--header", type=Path, default=cgen.HEADER_PATH, help=argparse.SUPPRESS)
    gen.add_argument("--doc", type=Path, default=cgen.DOC_PATH, help=argparse.SUPPRESS)
    gen.set_defaults(func=cmd_gen)


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise PmtError(f"cannot read {path}: {exc.strerror or exc}") from None


def cmd_encode(args: argparse.Namespace) -> int:
    limits = _limits(args)
    try:
        description = json.loads(_read(args.input))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise PmtError(f"{args.input} is not valid JSON: {exc}") from None
    table = pmt.from_dict(description)
    data = pmt.encode(table)
    if not args.no_validate:
        pmt.decode(data, limits)
    try:
        args.output.write_bytes(data)
    except OSError as exc:
        raise PmtError(f"cannot write {args.output}: {exc.strerror or exc}") from None
    print(f"{args.output}: {len(data)} bytes, {len(table.entries)} entries")
    return 0


def cmd_decode(args: argparse.Namespace) -> int:
    limits = _limits(args)
    table = pmt.decode(_read(args.input), limits)
    if args.json:
        json.dump(pmt.to_dict(table), sys.stdout, indent=2)
        print()
    else:
        print(format_table(table))
    return 0


def cmd_validate(args: argparse.Namespace) -> int:
    limits = _limits(args)
    data = _read(args.input)
    try:
        table = pmt.decode(data, limits)
    except PmtError as exc:
        if exc.reason is None:
            raise
        print(exc)
        return EXIT_REJECTED
    print(
        f"OK: PMT v{table.major}.{table.minor}, {len(table.entries)} entries, "
        f"{table.total_size} bytes, generation {table.generation:#x}, "
        f"flags {_flags(table.flags)}"
    )
    return 0


def cmd_gen(args: argparse.Namespace) -> int:
    if args.check:
        stale = [o.path for o in cgen.outputs(args.header, args.doc) if o.stale]
        for path in stale:
            print(f"{path} is out of date; run `{cgen.REGENERATE}`")
        return EXIT_REJECTED if stale else 0
    for path in cgen.write(args.header, args.doc):
        print(f"wrote {path}")
    return 0


def _flags(flags: int) -> str:
    names = flag_names(flags, pmt.PmtFlags)
    return "|".join(n if isinstance(n, str) else f"{n:#x}" for n in names) or "0"


def _name(value: int, enum_type: type) -> str:
    return str(enum_name(value, enum_type))


def format_table(t: pmt.Pmt) -> str:
    """A readable rendering of a decoded table."""
    machine = MACHINE_NAMES.get(t.e_machine, str(t.e_machine))
    lines = [
        f"PMT v{t.major}.{t.minor}, {t.total_size} bytes at {t.table_addr:#x}, "
        f"generation {t.generation:#x}",
        f"flags:       {_flags(t.flags)}",
        f"machine:     {machine}, {t.cpu_count} CPUs, {t.cpu_record_size}-byte CPU records",
        f"vmcoreinfo:  {t.vmcoreinfo_addr:#x} +{t.vmcoreinfo_size:#x}",
        f"cpu_state:   {t.cpu_state_addr:#x} +{t.cpu_state_size:#x}",
        f"arm_cookie:  {t.arm_cookie:#x}",
        f"firmware:    reject_reason {_name(t.reject_reason, pmt.RejectReason)}, "
        f"reject_entry {t.reject_entry:#x}, reset_cause {_name(t.reset_cause, pmt.ResetCause)}, "
        f"boot_count {t.boot_count}",
        "",
        f"{'#':>4}  {'type':<11}  {'base':>18}  {'size':>12}  {'dest':>18}  {'cpu':>4}  fw_status",
    ]
    for i, e in enumerate(t.entries):
        dest = f"{e.dest:#x}" if e.type == pmt.EntryType.BOOT_COPY else "-"
        cpu = str(e.cpu) if e.type == pmt.EntryType.CRASH_NOTES else "-"
        lines.append(
            f"{i:>4}  {_name(e.type, pmt.EntryType):<11}  {e.base:>#18x}  "
            f"{e.size:>#12x}  {dest:>18}  {cpu:>4}  "
            f"{_name(e.fw_status, pmt.EntryStatus)}"
        )
    return "\n".join(lines)
