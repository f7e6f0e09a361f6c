"""`warmboot vmcore ...`: inspect a vmcore, or capture one from preserved memory."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from .. import pmt as pmtlib
from ..handoff.cbtable import find_table
from ..handoff.emit_cli import int_argument
from ..handoff.physmem import PhysicalMemory, PhysicalMemoryError, open_memory
from ..pmt import PmtFlags
from ..pmt.spec import HEADER
from .capture import plan_capture
from .reader import VmcoreSummary, read_vmcore
from .writer import VmcoreError, write_vmcore

# The VMCOREINFO keys `info` shows without --vmcoreinfo: what identifies the
# kernel and what dump tools need first to translate addresses.
KEY_VMCOREINFO = (
    "OSRELEASE",
    "BUILD-ID",
    "PAGESIZE",
    "KERNELOFFSET",
    "CRASHTIME",
    "NUMBER(phys_base)",
    "NUMBER(pgtable_l5_enabled)",
    "NUMBER(VA_BITS)",
    "NUMBER(PHYS_OFFSET)",
)


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("vmcore", help="inspect or capture ELF vmcores")
    sub = parser.add_subparsers(dest="vmcore_command", metavar="ACTION", required=True)

    info = sub.add_parser("info", help="show machine, CPUs, VMCOREINFO and regions of a vmcore")
    info.add_argument("file", type=Path)
    info.add_argument("--json", action="store_true", help="machine-readable output")
    info.add_argument("--vmcoreinfo", action="store_true", help="list every VMCOREINFO key")
    info.set_defaults(func=cmd_info)

    capture = sub.add_parser(
        "capture", help="write a vmcore from preserved memory described by a PMT"
    )
    capture.add_argument(
        "memory", type=Path, help="/dev/mem, a raw memory image, or an ELF memory dump"
    )
    capture.add_argument("-o", "--output", type=Path, required=True)
    capture.add_argument(
        "--base",
        type=int_argument,
        default=0,
        help="physical address of a raw image's first byte (default 0)",
    )
    capture.add_argument(
        "--pmt-addr",
        type=int_argument,
        help="the PMT's physical address (default: from the coreboot table)",
    )
    capture.add_argument(
        "--page-offset",
        type=int_argument,
        help="the crashed kernel's direct-map base, when VMCOREINFO lacks it",
    )
    capture.add_argument(
        "--force",
        action="store_true",
        help="capture even if the PMT's flags say firmware did not keep it",
    )
    capture.set_defaults(func=cmd_capture)


def _format_info(summary: VmcoreSummary, all_keys: bool) -> str:
    lines = [
        f"{summary.path}: {summary.machine} (e_machine {summary.e_machine}) vmcore",
        f"cpus: {len(summary.cpus)}",
    ]
    lines += [
        f"  cpu {c.index}: pid {c.pid}  pc {c.pc:#018x}  sp {c.sp:#018x}" for c in summary.cpus
    ]
    info = summary.vmcoreinfo
    lines.append(f"vmcoreinfo: {len(info)} keys" if info else "vmcoreinfo: none")
    shown = list(info) if all_keys else [k for k in KEY_VMCOREINFO if k in info]
    lines += [f"  {key}={info[key]}" for key in shown]
    if len(shown) < len(info):
        lines.append(f"  ... {len(info) - len(shown)} more (--vmcoreinfo lists them)")
    total = sum(r.size for r in summary.regions)
    lines.append(f"regions: {len(summary.regions)}, {total:#x} bytes")
    lines += [
        f"  paddr {r.paddr:#018x}  vaddr {r.vaddr:#018x}  size {r.size:#x}" for r in summary.regions
    ]
    return "\n".join(lines)


def cmd_info(args: argparse.Namespace) -> int:
    summary = read_vmcore(args.file)
    if args.json:
        json.dump(summary.to_json(), sys.stdout, indent=2)
        print()
    else:
        print(_format_info(summary, args.vmcoreinfo))
    return 0


def read_pmt(memory: PhysicalMemory, addr: int) -> pmtlib.Pmt:
    """Read and decode the PMT at physical `addr` (its size is in its header)."""
    try:
        head = memory.read(addr, pmtlib.HEADER_SIZE)
        total = HEADER.unpack(head)["total_size"]
        data = head + memory.read(addr + len(head), max(0, total - len(head)))
    except PhysicalMemoryError as exc:
        raise VmcoreError(f"cannot read the PMT at {addr:#x}: {exc}") from exc
    return pmtlib.decode(data)


def _locate_pmt(memory: PhysicalMemory) -> int:
    record = find_table(memory).pmt_record
    if record is None:
        raise VmcoreError(
            "the coreboot table has no warmboot PMT record; this firmware does not preserve memory"
        )
    if not record.flags & PmtFlags.ARMED:
        raise VmcoreError("firmware found no armed PMT on this boot; there is nothing to capture")
    return record.anchor_addr


def cmd_capture(args: argparse.Namespace) -> int:
    memory = open_memory(args.memory, args.base)
    try:
        addr = args.pmt_addr if args.pmt_addr is not None else _locate_pmt(memory)
        capture = plan_capture(
            read_pmt(memory, addr), memory, page_offset=args.page_offset, force=args.force
        )
        for warning in capture.warnings:
            print(f"warmboot: warning: {warning}", file=sys.stderr)
        try:
            with open(args.output, "wb") as out:
                size = write_vmcore(capture.plan, memory, out)
        except OSError as exc:
            args.output.unlink(missing_ok=True)
            raise VmcoreError(f"cannot write {args.output}: {exc.strerror}") from exc
        except BaseException:
            # A partial vmcore looks plausible to tools; leave none behind.
            args.output.unlink(missing_ok=True)
            raise
    finally:
        memory.close()
    print(
        f"{args.output}: {size} bytes, {len(capture.plan.cpus)} cpus, "
        f"{len(capture.plan.segments)} regions"
    )
    return 0
