"""`warmboot handoff ...`: the PMT hand-off in each firmware's form.

dts / dtb   the device-tree nodes (standalone, or patched into a DTB)
cbrecord    the LB_TAG_WARMBOOT_PMT coreboot table record
efi         the EFI_CONFIGURATION_TABLE entry
cbtable     parse the coreboot table in a memory image or /dev/mem
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict
from pathlib import Path

from .. import pmt as pmtlib
from ..errors import WarmbootError
from .cbtable import CorebootTable, PmtRecord, RawRecord, encode_record, find_table
from .devicetree import handoff_from_pmt, insert_into_dtb, to_dtb, to_dts
from .efi import WARMBOOT_PMT_TABLE_GUID, encode_config_table, pmt_config_table
from .physmem import open_memory


class HandoffCliError(WarmbootError):
    """An input or output file of a `warmboot handoff` command is unusable."""


def int_argument(text: str) -> int:
    """argparse type for addresses and sizes: decimal, 0x..., 0o..., 0b..."""
    try:
        return int(text, 0)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None


def load_pmt(path: Path) -> pmtlib.Pmt:
    """A PMT from its bytes (as in memory) or its JSON description."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise pmtlib.PmtError(f"cannot read {path}: {exc.strerror}") from exc
    if data.startswith(pmtlib.MAGIC):
        return pmtlib.decode(data)
    try:
        description = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise pmtlib.PmtError(f"{path} is neither a PMT nor its JSON description: {exc}") from exc
    return pmtlib.validate(pmtlib.from_dict(description))


def _write(data: bytes | str, output: Path | None) -> None:
    if output is None:
        if isinstance(data, str):
            sys.stdout.write(data)
        else:
            sys.stdout.buffer.write(data)
        return
    try:
        if isinstance(data, str):
            output.write_text(data)
        else:
            output.write_bytes(data)
    except OSError as exc:
        raise HandoffCliError(f"cannot write {output}: {exc.strerror}") from exc


def pmt_record(table: pmtlib.Pmt, anchor_size: int | None = None) -> PmtRecord:
    """The coreboot record for a table firmware processed in its anchor."""
    return PmtRecord(
        table.table_addr,
        anchor_size or table.total_size,
        int(table.flags),
        table.reject_reason,
        table.reset_cause,
        table.reject_entry,
        table.generation,
    )


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "handoff", help="emit or inspect the PMT hand-off to the next boot"
    )
    sub = parser.add_subparsers(dest="handoff_command", metavar="FORM", required=True)

    def pmt_command(name: str, help_text: str, binary: bool):
        cmd = sub.add_parser(name, help=help_text)
        cmd.add_argument("pmt", type=Path, help="the PMT (its bytes, or JSON)")
        cmd.add_argument(
            "-o",
            "--output",
            type=Path,
            required=binary,
            default=None,
            help="output file" + ("" if binary else " (default stdout)"),
        )
        return cmd

    dts = pmt_command("dts", "device-tree source with /reserved-memory and /chosen", False)
    dts.add_argument("--no-map", action="store_true", help="mark the regions no-map")
    dts.set_defaults(func=cmd_dts)

    dtb = pmt_command("dtb", "device-tree blob; with --into, patch an existing DTB", True)
    dtb.add_argument("--no-map", action="store_true", help="mark the regions no-map")
    dtb.add_argument("--into", type=Path, help="the DTB to add the nodes to")
    dtb.set_defaults(func=cmd_dtb)

    pmt_command("cbrecord", "the LB_TAG_WARMBOOT_PMT coreboot table record", True).set_defaults(
        func=cmd_cbrecord
    )
    efi = pmt_command("efi", "the EFI_CONFIGURATION_TABLE entry (64-bit)", False)
    efi.set_defaults(func=cmd_efi)

    cbtable = sub.add_parser("cbtable", help="parse the coreboot table in physical memory")
    cbtable.add_argument("memory", type=Path, help="/dev/mem, a raw memory image, or an ELF dump")
    cbtable.add_argument(
        "--base",
        type=int_argument,
        default=0,
        help="physical address of a raw image's first byte (default 0)",
    )
    cbtable.add_argument("--json", action="store_true")
    cbtable.set_defaults(func=cmd_cbtable)


def cmd_dts(args: argparse.Namespace) -> int:
    _write(to_dts(handoff_from_pmt(load_pmt(args.pmt), args.no_map)), args.output)
    return 0


def cmd_dtb(args: argparse.Namespace) -> int:
    handoff = handoff_from_pmt(load_pmt(args.pmt), args.no_map)
    if args.into:
        try:
            base = args.into.read_bytes()
        except OSError as exc:
            raise HandoffCliError(f"cannot read {args.into}: {exc.strerror}") from exc
        _write(insert_into_dtb(base, handoff), args.output)
    else:
        _write(to_dtb(handoff), args.output)
    return 0


def cmd_cbrecord(args: argparse.Namespace) -> int:
    _write(encode_record(pmt_record(load_pmt(args.pmt))), args.output)
    return 0


def cmd_efi(args: argparse.Namespace) -> int:
    table = load_pmt(args.pmt)
    entry = encode_config_table(pmt_config_table(table.table_addr))
    if args.output:
        _write(entry, args.output)
    else:
        print(f"VendorGuid  {WARMBOOT_PMT_TABLE_GUID}")
        print(f"VendorTable {table.table_addr:#x}")
        print(f"bytes       {entry.hex()}")
    return 0


def _table_json(table: CorebootTable) -> dict:
    records = []
    for record in table.records:
        if isinstance(record, RawRecord):
            records.append({"tag": f"{record.tag:#x}", "size": 8 + len(record.data)})
        else:
            records.append({"record": type(record).__name__, **asdict(record)})
    return {
        "address": f"{table.address:#x}",
        "forwarded_from": [f"{a:#x}" for a in table.forwarded_from],
        "records": records,
    }


def cmd_cbtable(args: argparse.Namespace) -> int:
    with open_memory(args.memory, args.base) as memory:
        table = find_table(memory)
    if args.json:
        json.dump(_table_json(table), sys.stdout, indent=2, default=str)
        print()
        return 0
    via = "".join(f" (forwarded from {a:#x})" for a in table.forwarded_from)
    print(f"coreboot table at {table.address:#x}{via}: {len(table.records)} records")
    for r in table.memory_ranges:
        print(f"  memory {r.start:#014x}-{r.end - 1:#014x} {r.type_name}")
    for e in table.cbmem_entries:
        print(f"  cbmem  {e.address:#014x} {e.entry_size:#10x} id {e.id:#010x}")
    record = table.pmt_record
    if record:
        print(
            f"  warmboot PMT anchor at {record.anchor_addr:#x}, {record.anchor_size} bytes, "
            f"flags {record.flags:#x}, reject_reason {record.reject_reason}, "
            f"reset_cause {record.reset_cause}, boot window "
            f"{record.boot_window_base:#x}+{record.boot_window_size:#x}"
        )
    else:
        print("  no warmboot PMT record")
    return 0
