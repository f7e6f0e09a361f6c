"""The rules a table must keep, in the order docs/pmt.md gives them, which
is the order of the freestanding C validator (payloads/libpmt/pmt_validate.c):
the first rule broken decides the RejectReason, so both report the same code
for the same bytes. decode() runs them; each raises PmtError via reject().
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from typing import Any

from .encode import masked_crc
from .model import PmtEntry, PmtLimits
from .spec import (
    CPU_RECORD_SIZE,
    EM_AARCH64,
    EM_X86_64,
    ENTRY_SIZE,
    HEADER,
    HEADER_SIZE,
    MACHINE_NAMES,
    MAGIC,
    MAJOR,
    MEMORY_TYPES,
    NOTE_ALIGN,
    NOTE_TYPES,
    OBJECT_TYPES,
    PAGE_SIZE,
    SIZE_GRANULE,
    U64_LIMIT,
    EntryType,
    PmtError,
    RejectReason,
)


def reject(reason: RejectReason, message: str, entry: int | None = None) -> PmtError:
    where = f"entry {entry}: " if entry is not None else ""
    return PmtError(f"PMT rejected: {reason.name} ({int(reason)}): {where}{message}", reason, entry)


def _overlaps(a_base: int, a_last: int, b_base: int, b_last: int) -> bool:
    return a_base <= b_last and b_base <= a_last


def _overlaps_any(base: int, last: int, ranges: Sequence[tuple[int, int]]) -> bool:
    return any(_overlaps(base, last, b, b + s - 1) for b, s in ranges)


def check_header(buf: bytes, limits: PmtLimits) -> dict[str, Any]:
    size = len(buf)
    if size < len(MAGIC):
        raise reject(RejectReason.BAD_SIZES, f"{size} bytes cannot hold the magic")
    if buf[: len(MAGIC)] != MAGIC:
        raise reject(RejectReason.BAD_MAGIC, f"magic {buf[: len(MAGIC)]!r} is not {MAGIC!r}")
    major_at = HEADER.offsets["major"]
    if size < major_at + 2:
        raise reject(RejectReason.BAD_SIZES, f"{size} bytes cannot hold the version")
    (major,) = struct.unpack_from("<H", buf, major_at)
    if major != MAJOR:
        raise reject(RejectReason.BAD_VERSION, f"major version {major}; this reader knows {MAJOR}")
    if size < HEADER_SIZE:
        raise reject(
            RejectReason.BAD_SIZES, f"{size} bytes cannot hold a v1 header ({HEADER_SIZE} bytes)"
        )
    h = HEADER.unpack(buf)
    for name, minimum in (
        ("header_size", HEADER_SIZE),
        ("entry_size", ENTRY_SIZE),
        ("cpu_record_size", CPU_RECORD_SIZE),
    ):
        if h[name] < minimum or h[name] % SIZE_GRANULE:
            raise reject(
                RejectReason.BAD_SIZES,
                f"{name} {h[name]} is not a multiple of {SIZE_GRANULE} of at least {minimum}",
            )
    if not h["header_size"] <= h["total_size"] <= size:
        raise reject(
            RejectReason.BAD_SIZES,
            f"total_size {h['total_size']} is not between "
            f"header_size {h['header_size']} and the {size} bytes given",
        )
    if h["header_size"] + h["entry_count"] * h["entry_size"] > h["total_size"]:
        raise reject(
            RejectReason.COUNT_OVERFLOW,
            f"{h['entry_count']} entries of "
            f"{h['entry_size']} bytes do not fit in total_size {h['total_size']}",
        )
    crc = masked_crc(buf, h["header_size"], h["entry_size"], h["entry_count"], h["total_size"])
    if crc != h["crc32"]:
        raise reject(RejectReason.BAD_CRC, f"crc32 {h['crc32']:#010x}, computed {crc:#010x}")
    if h["entry_count"] > limits.max_entries:
        raise reject(
            RejectReason.TOO_MANY_ENTRIES,
            f"{h['entry_count']} entries, the limit is {limits.max_entries}",
        )
    if limits.arm_cookie and h["arm_cookie"] != limits.arm_cookie:
        raise reject(
            RejectReason.STALE,
            f"arm_cookie {h['arm_cookie']:#x} is not the registered {limits.arm_cookie:#x}",
        )
    if h["e_machine"] not in MACHINE_NAMES:
        raise reject(
            RejectReason.BAD_MACHINE,
            f"e_machine {h['e_machine']} is neither "
            f"{EM_X86_64} (x86_64) nor {EM_AARCH64} (aarch64)",
        )
    if not 1 <= h["cpu_count"] <= limits.max_cpus:
        raise reject(
            RejectReason.BAD_CPU_COUNT,
            f"cpu_count {h['cpu_count']} is not between 1 and {limits.max_cpus}",
        )
    return h


def check_entry(i: int, e: dict[str, int], cpu_count: int, limits: PmtLimits) -> None:
    try:
        kind = EntryType(e["type"])
    except ValueError:
        raise reject(RejectReason.BAD_ENTRY, f"unknown type {e['type']}", i) from None
    if (kind == EntryType.BOOT_COPY) != (e["dest"] != 0):
        raise reject(
            RejectReason.BAD_ENTRY,
            f"dest {e['dest']:#x} on a {kind.name} entry "
            "(only BOOT_COPY has one, and it must not be 0)",
            i,
        )
    if kind == EntryType.CRASH_NOTES and e["cpu"] >= cpu_count:
        raise reject(
            RejectReason.BAD_ENTRY,
            f"crash notes of cpu {e['cpu']}, but cpu_count is {cpu_count}",
            i,
        )
    base, size, dest = e["base"], e["size"], e["dest"]
    if size == 0:
        raise reject(RejectReason.ZERO_SIZE, f"{kind.name} of size 0", i)
    if base + size > U64_LIMIT or dest + size > U64_LIMIT:
        raise reject(
            RejectReason.WRAP,
            f"{kind.name} {base:#x}+{size:#x} (dest {dest:#x}) wraps past 2**64",
            i,
        )
    align = NOTE_ALIGN if kind in NOTE_TYPES else PAGE_SIZE
    if (base | size | dest) % align:
        raise reject(
            RejectReason.UNALIGNED,
            f"{kind.name} {base:#x}+{size:#x} (dest {dest:#x}) is not {align}-byte aligned",
            i,
        )
    fw = limits.firmware_ranges
    last = base + size - 1
    if kind == EntryType.PRESERVE and _overlaps_any(base, last, fw):
        raise reject(
            RejectReason.PRESERVE_IN_FIRMWARE,
            f"PRESERVE {base:#x}+{size:#x} overlaps firmware memory (make it a BOOT_COPY)",
            i,
        )
    if kind == EntryType.BOOT_COPY and _overlaps_any(dest, dest + size - 1, fw):
        raise reject(
            RejectReason.DEST_IN_FIRMWARE,
            f"BOOT_COPY dest {dest:#x}+{size:#x} overlaps firmware memory",
            i,
        )
    if kind == EntryType.CPU_STATE and _overlaps_any(base, last, fw):
        raise reject(
            RejectReason.CPU_STATE_FORBIDDEN,
            f"CPU_STATE {base:#x}+{size:#x} overlaps firmware memory",
            i,
        )


def _check_pointer(
    name: str, kind: EntryType, addr: int, size: int, entries: Sequence[PmtEntry]
) -> None:
    """The header's pointer and the entry of `kind` must say the same."""
    found = [i for i, e in enumerate(entries) if e.type == kind]
    at = found[0] if found else None
    if size == 0:
        if addr != 0 or found:
            raise reject(
                RejectReason.METADATA_MISMATCH,
                f"{name} size is 0 but its address is {addr:#x} or a {kind.name} entry exists",
                at,
            )
    elif at is None or (entries[at].base, entries[at].size) != (addr, size):
        raise reject(
            RejectReason.METADATA_MISMATCH,
            f"header {name} {addr:#x}+{size:#x} has no matching {kind.name} entry",
            at,
        )


def check_table(h: dict[str, Any], entries: tuple[PmtEntry, ...]) -> None:
    seen: set[tuple[EntryType, int]] = set()
    for i, e in enumerate(entries):
        if e.type in OBJECT_TYPES:
            key = (e.type, e.cpu if e.type == EntryType.CRASH_NOTES else 0)
            if key in seen:
                raise reject(
                    RejectReason.METADATA_MISMATCH,
                    f"a second {e.type.name} entry"
                    + (f" for cpu {e.cpu}" if e.type == EntryType.CRASH_NOTES else ""),
                    i,
                )
            seen.add(key)
    _check_pointer(
        "vmcoreinfo", EntryType.VMCOREINFO, h["vmcoreinfo_addr"], h["vmcoreinfo_size"], entries
    )
    _check_pointer(
        "cpu_state", EntryType.CPU_STATE, h["cpu_state_addr"], h["cpu_state_size"], entries
    )
    if h["cpu_state_size"] and h["cpu_state_size"] < h["cpu_count"] * h["cpu_record_size"]:
        raise reject(
            RejectReason.BAD_SIZES,
            f"cpu_state_size {h['cpu_state_size']:#x} cannot "
            f"hold {h['cpu_count']} records of {h['cpu_record_size']} bytes",
            next(i for i, e in enumerate(entries) if e.type == EntryType.CPU_STATE),
        )

    table = next((i for i, e in enumerate(entries) if e.type == EntryType.TABLE), None)
    t_base, t_last = h["table_addr"], h["table_addr"] + h["total_size"] - 1
    if table is None:
        raise reject(RejectReason.TABLE_OUTSIDE_ENTRY, "there is no TABLE entry")
    if not (t_last < U64_LIMIT and entries[table].base <= t_base and t_last <= entries[table].last):
        raise reject(
            RejectReason.TABLE_OUTSIDE_ENTRY,
            f"table {t_base:#x}+"
            f"{h['total_size']:#x} is not inside its TABLE entry "
            f"{entries[table].base:#x}+{entries[table].size:#x}",
            table,
        )

    for j, b in enumerate(entries):
        for i in range(j):
            a = entries[i]
            same_class = (a.type in MEMORY_TYPES and b.type in MEMORY_TYPES) or (
                a.type in OBJECT_TYPES and b.type in OBJECT_TYPES
            )
            if same_class and _overlaps(a.base, a.last, b.base, b.last):
                raise reject(
                    RejectReason.OVERLAP,
                    f"{b.type.name} {b.base:#x}+{b.size:#x} "
                    f"overlaps entry {i} ({a.type.name} {a.base:#x}+{a.size:#x})",
                    j,
                )

    for j, b in enumerate(entries):
        if b.type != EntryType.BOOT_COPY:
            continue
        d_base, d_last = b.dest, b.dest + b.size - 1
        for i, a in enumerate(entries):
            hit = a.type in MEMORY_TYPES and _overlaps(d_base, d_last, a.base, a.last)
            if a.type == EntryType.BOOT_COPY and i != j:
                hit = hit or _overlaps(d_base, d_last, a.dest, a.dest + a.size - 1)
            if hit:
                raise reject(
                    RejectReason.COPY_DEST_CONFLICT,
                    f"BOOT_COPY dest {b.dest:#x}+{b.size:#x} overlaps entry {i} ({a.type.name})",
                    j,
                )

    for j, b in enumerate(entries):
        if b.type not in OBJECT_TYPES:
            continue
        holders = (
            {EntryType.PRESERVE}
            if b.type in (EntryType.TABLE, EntryType.CPU_STATE)
            else MEMORY_TYPES
        )
        if not any(a.type in holders and a.base <= b.base and b.last <= a.last for a in entries):
            reason = (
                RejectReason.CPU_STATE_FORBIDDEN
                if b.type == EntryType.CPU_STATE
                else RejectReason.METADATA_OUTSIDE_PRESERVED
            )
            where = " or BOOT_COPY source" if holders is MEMORY_TYPES else ""
            raise reject(
                reason,
                f"{b.type.name} {b.base:#x}+{b.size:#x} is not inside one PRESERVE{where} entry",
                j,
            )
