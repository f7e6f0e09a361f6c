"""Each PMT rule rejects with its own RejectReason (and offending entry), and
the layouts the spec allows are accepted."""

from __future__ import annotations

import dataclasses
import struct
from collections.abc import Callable

import pytest

from pmt_corpus import reseal
from warmboot import pmt
from warmboot.pmt import EntryType as T
from warmboot.pmt import Pmt, PmtEntry, PmtError, PmtLimits, spec
from warmboot.pmt import RejectReason as R

MIB = 1 << 20
TOP = 1 << 64
FW = PmtLimits(firmware_ranges=((0, MIB), (0x7F000000, 16 * MIB)))

# A small table laid out like a real registration: the table, CPU state and
# notes inside the first PRESERVE region; the low 64 KiB copied to 2 MiB.
BASE = Pmt(
    e_machine=pmt.EM_X86_64,
    cpu_count=2,
    table_addr=0x100010,
    flags=pmt.PmtFlags.ARMED,
    generation=1,
    arm_cookie=0x1234,
    vmcoreinfo_addr=0x102000,
    vmcoreinfo_size=0x100,
    cpu_state_addr=0x101000,
    cpu_state_size=0x1000,
    entries=(
        PmtEntry(T.PRESERVE, 0x100000, 0x10000),  # 0
        PmtEntry(T.TABLE, 0x100000, 0x1000),  # 1
        PmtEntry(T.CPU_STATE, 0x101000, 0x1000),  # 2
        PmtEntry(T.VMCOREINFO, 0x102000, 0x100),  # 3
        PmtEntry(T.CRASH_NOTES, 0x102100, 0x200, cpu=0),  # 4
        PmtEntry(T.CRASH_NOTES, 0x102300, 0x200, cpu=1),  # 5
        PmtEntry(T.BOOT_COPY, 0x0, 0x10000, dest=0x200000),  # 6
        PmtEntry(T.PRESERVE, 0x300000, 0x100000),  # 7
    ),
)


def entry(i: int, **changes: int) -> Pmt:
    entries = list(BASE.entries)
    entries[i] = dataclasses.replace(entries[i], **changes)
    return dataclasses.replace(BASE, entries=tuple(entries))


def added(*extra: PmtEntry) -> Pmt:
    return dataclasses.replace(BASE, entries=BASE.entries + extra)


def without(i: int) -> Pmt:
    return dataclasses.replace(BASE, entries=BASE.entries[:i] + BASE.entries[i + 1 :])


def header(**changes: int) -> Pmt:
    return dataclasses.replace(BASE, **changes)


def raw(field: str, value: int, resealed: bool = True) -> bytes:
    """BASE's bytes with one header field overwritten."""
    data = bytearray(pmt.encode(BASE))
    f = spec.HEADER.field(field)
    struct.pack_into("<" + f.item_format, data, spec.HEADER.offsets[field], value)
    return reseal(bytes(data)) if resealed else bytes(data)


def flipped(offset: int) -> bytes:
    data = bytearray(pmt.encode(BASE))
    data[offset] ^= 0x10
    return bytes(data)


Table = Pmt | bytes | Callable[[], bytes]
CASES: list[tuple[str, Table, PmtLimits, R, int | None]] = [
    ("empty", b"", FW, R.BAD_SIZES, None),
    ("magic cut short", pmt.MAGIC[:5], FW, R.BAD_SIZES, None),
    ("bad magic", b"WBOOTPMX" + pmt.encode(BASE)[8:], FW, R.BAD_MAGIC, None),
    ("major cut short", pmt.encode(BASE)[:9], FW, R.BAD_SIZES, None),
    ("unknown major", header(major=2), FW, R.BAD_VERSION, None),
    ("header cut short", pmt.encode(BASE)[:100], FW, R.BAD_SIZES, None),
    ("header_size below v1", raw("header_size", 112), FW, R.BAD_SIZES, None),
    ("header_size not a multiple of 8", raw("header_size", 124), FW, R.BAD_SIZES, None),
    ("entry_size below v1", raw("entry_size", 24), FW, R.BAD_SIZES, None),
    ("cpu_record_size below v1", header(cpu_record_size=376), FW, R.BAD_SIZES, None),
    ("total_size past the buffer", raw("total_size", 4096), FW, R.BAD_SIZES, None),
    ("total_size below header_size", raw("total_size", 64), FW, R.BAD_SIZES, None),
    ("entry_count past total_size", raw("entry_count", 9), FW, R.COUNT_OVERFLOW, None),
    ("entry_count overflowing 32 bits", raw("entry_count", 0xFFFFFFFF), FW, R.COUNT_OVERFLOW, None),
    ("bad crc", flipped(spec.HEADER.offsets["generation"]), FW, R.BAD_CRC, None),
    ("bad crc in an entry", flipped(pmt.HEADER_SIZE + 3), FW, R.BAD_CRC, None),
    ("too many entries", BASE, dataclasses.replace(FW, max_entries=7), R.TOO_MANY_ENTRIES, None),
    ("stale cookie", BASE, dataclasses.replace(FW, arm_cookie=0x9999), R.STALE, None),
    ("unknown machine", header(e_machine=3), FW, R.BAD_MACHINE, None),
    ("no CPUs", header(cpu_count=0), FW, R.BAD_CPU_COUNT, None),
    ("more CPUs than allowed", BASE, dataclasses.replace(FW, max_cpus=1), R.BAD_CPU_COUNT, None),
    ("unknown entry type", entry(3, type=9), FW, R.BAD_ENTRY, 3),
    ("dest on a PRESERVE", entry(7, dest=0x500000), FW, R.BAD_ENTRY, 7),
    ("BOOT_COPY without dest", entry(6, dest=0), FW, R.BAD_ENTRY, 6),
    ("crash notes of a CPU past cpu_count", entry(5, cpu=2), FW, R.BAD_ENTRY, 5),
    ("zero size", entry(7, size=0), FW, R.ZERO_SIZE, 7),
    ("region wraps", entry(7, base=TOP - 0x1000, size=0x2000), FW, R.WRAP, 7),
    ("copy dest wraps", entry(6, dest=TOP - 0x1000), FW, R.WRAP, 6),
    ("unaligned region base", entry(7, base=0x300800), FW, R.UNALIGNED, 7),
    ("unaligned region size", entry(7, size=0x100800), FW, R.UNALIGNED, 7),
    ("unaligned copy dest", entry(6, dest=0x200200), FW, R.UNALIGNED, 6),
    ("unaligned TABLE entry", entry(1, size=0x800), FW, R.UNALIGNED, 1),
    ("note not word-aligned", entry(4, base=0x102102), FW, R.UNALIGNED, 4),
    (
        "PRESERVE in firmware memory",
        entry(7, base=0x80000, size=0x1000),
        FW,
        R.PRESERVE_IN_FIRMWARE,
        7,
    ),
    (
        "PRESERVE touching firmware memory by one byte",
        entry(7, base=0x7E000000, size=0x1001000),
        FW,
        R.PRESERVE_IN_FIRMWARE,
        7,
    ),
    ("copy dest in firmware memory", entry(6, dest=0x7F000000), FW, R.DEST_IN_FIRMWARE, 6),
    (
        "CPU_STATE in firmware memory",
        dataclasses.replace(BASE, entries=(BASE.entries[2], *BASE.entries[:2], *BASE.entries[3:])),
        dataclasses.replace(FW, firmware_ranges=(*FW.firmware_ranges, (0x101F00, 0x100))),
        R.CPU_STATE_FORBIDDEN,
        0,
    ),
    ("second TABLE entry", added(PmtEntry(T.TABLE, 0x103000, 0x1000)), FW, R.METADATA_MISMATCH, 8),
    (
        "crash notes twice for one CPU",
        added(PmtEntry(T.CRASH_NOTES, 0x102800, 0x40, cpu=1)),
        FW,
        R.METADATA_MISMATCH,
        8,
    ),
    (
        "header vmcoreinfo differs from its entry",
        header(vmcoreinfo_size=0x104),
        FW,
        R.METADATA_MISMATCH,
        3,
    ),
    (
        "vmcoreinfo entry but no header pointer",
        header(vmcoreinfo_addr=0, vmcoreinfo_size=0),
        FW,
        R.METADATA_MISMATCH,
        3,
    ),
    ("header cpu_state without an entry", without(2), FW, R.METADATA_MISMATCH, None),
    (
        "CPU_STATE too small for cpu_count",
        dataclasses.replace(BASE, cpu_count=11),
        FW,
        R.BAD_SIZES,
        2,
    ),
    ("no TABLE entry", without(1), FW, R.TABLE_OUTSIDE_ENTRY, None),
    ("table runs past its TABLE entry", header(table_addr=0x100FF0), FW, R.TABLE_OUTSIDE_ENTRY, 1),
    ("table address wraps", header(table_addr=TOP - 8), FW, R.TABLE_OUTSIDE_ENTRY, 1),
    ("PRESERVE regions overlap", added(PmtEntry(T.PRESERVE, 0x3FF000, 0x2000)), FW, R.OVERLAP, 8),
    (
        "copy source overlaps a PRESERVE",
        added(PmtEntry(T.BOOT_COPY, 0x10F000, 0x1000, dest=0x210000)),
        FW,
        R.OVERLAP,
        8,
    ),
    ("notes overlap", entry(5, base=0x1022F0), FW, R.OVERLAP, 5),
    ("copy dest on a PRESERVE", entry(6, dest=0x300000), FW, R.COPY_DEST_CONFLICT, 6),
    (
        "copy dest on its own source",
        entry(6, dest=0x8000),
        pmt.DEFAULT_LIMITS,
        R.COPY_DEST_CONFLICT,
        6,
    ),
    # Entry 6 is the first BOOT_COPY whose dest hits another's: it is named.
    (
        "copy dests overlap",
        added(PmtEntry(T.BOOT_COPY, 0x10000, 0x1000, dest=0x20F000)),
        FW,
        R.COPY_DEST_CONFLICT,
        6,
    ),
    (
        "note in unpreserved memory",
        dataclasses.replace(entry(3, base=0x500000), vmcoreinfo_addr=0x500000),
        FW,
        R.METADATA_OUTSIDE_PRESERVED,
        3,
    ),
    (
        "TABLE in a BOOT_COPY source (it must stay in place)",
        dataclasses.replace(entry(1, base=0x1000), table_addr=0x1000),
        pmt.DEFAULT_LIMITS,
        R.METADATA_OUTSIDE_PRESERVED,
        1,
    ),
    (
        "note spanning two adjacent PRESERVE regions",
        dataclasses.replace(
            BASE,
            entries=(
                *entry(5, base=0x10FFF0, size=0x20).entries,
                PmtEntry(T.PRESERVE, 0x110000, 0x1000),
            ),
        ),
        FW,
        R.METADATA_OUTSIDE_PRESERVED,
        5,
    ),
    (
        "CPU_STATE outside PRESERVE",
        dataclasses.replace(entry(2, base=0x500000), cpu_state_addr=0x500000),
        FW,
        R.CPU_STATE_FORBIDDEN,
        2,
    ),
    (
        "CPU_STATE in a BOOT_COPY source",
        dataclasses.replace(entry(2, base=0x1000), cpu_state_addr=0x1000),
        pmt.DEFAULT_LIMITS,
        R.CPU_STATE_FORBIDDEN,
        2,
    ),
]


@pytest.mark.parametrize("name, table, limits, reason, bad_entry", CASES, ids=[c[0] for c in CASES])
def test_rule_rejects_with_its_reason(
    name: str, table: Table, limits: PmtLimits, reason: R, bad_entry: int | None
) -> None:
    data = pmt.encode(table) if isinstance(table, Pmt) else table
    with pytest.raises(PmtError) as caught:
        pmt.decode(data, limits)
    assert (caught.value.reason, caught.value.entry) == (reason, bad_entry), str(caught.value)
    assert reason.name in str(caught.value)


def test_every_reject_reason_has_a_case() -> None:
    assert {c[3] for c in CASES} == set(R) - {R.NONE}


ACCEPTED: list[tuple[str, Pmt, PmtLimits]] = [
    ("the base table", BASE, FW),
    ("the base table with its cookie", BASE, dataclasses.replace(FW, arm_cookie=0x1234)),
    ("entries in any order", dataclasses.replace(BASE, entries=BASE.entries[::-1]), FW),
    ("PRESERVE regions that touch", added(PmtEntry(T.PRESERVE, 0x400000, 0x1000)), FW),
    (
        "PRESERVE touching firmware memory without overlap",
        added(PmtEntry(T.PRESERVE, 0x7E000000, 0x1000000)),
        FW,
    ),
    ("a region ending exactly at 2**64", added(PmtEntry(T.PRESERVE, TOP - 0x1000, 0x1000)), FW),
    (
        "a note inside a BOOT_COPY source",
        dataclasses.replace(entry(3, base=0x8000), vmcoreinfo_addr=0x8000),
        FW,
    ),
    ("a copy dest touching its source", entry(6, dest=0x10000), pmt.DEFAULT_LIMITS),
    (
        "no VMCOREINFO and no CPU_STATE",
        dataclasses.replace(
            BASE,
            entries=tuple(e for e in BASE.entries if e.type not in (T.VMCOREINFO, T.CPU_STATE)),
            vmcoreinfo_addr=0,
            vmcoreinfo_size=0,
            cpu_state_addr=0,
            cpu_state_size=0,
        ),
        FW,
    ),
    (
        "disarmed, annotated by firmware",
        header(
            flags=pmt.PmtFlags.COPY_DONE | pmt.PmtFlags.WARM_RESET_SEEN,
            boot_count=2,
            reset_cause=pmt.ResetCause.WATCHDOG,
        ),
        FW,
    ),
    (
        "a future minor version with appended fields",
        dataclasses.replace(
            BASE,
            minor=3,
            header_extra=bytes(range(16)),
            trailer=b"tail",
            entries=tuple(dataclasses.replace(e, extra=b"\xee" * 8) for e in BASE.entries),
        ),
        FW,
    ),
    ("unknown flag bits", header(flags=0xFFFFFFFF), FW),
    ("an unaligned table address", header(table_addr=0x100003), FW),
]


@pytest.mark.parametrize("name, table, limits", ACCEPTED, ids=[c[0] for c in ACCEPTED])
def test_spec_allows(name: str, table: Pmt, limits: PmtLimits) -> None:
    assert pmt.decode(pmt.encode(table), limits) == table


def test_firmware_annotations_keep_the_crc_valid() -> None:
    """Firmware writes its fields in place without re-signing the table."""
    data = bytearray(pmt.encode(BASE))
    flags_at = spec.HEADER.offsets["flags"]
    struct.pack_into("<I", data, flags_at, pmt.PmtFlags.ARMED | pmt.PmtFlags.REJECTED)
    struct.pack_into("<HHI", data, spec.HEADER.offsets["reject_reason"], R.OVERLAP, 1, 7)
    struct.pack_into(
        "<H",
        data,
        pmt.HEADER_SIZE + 2 * pmt.ENTRY_SIZE + spec.ENTRY.offsets["fw_status"],
        pmt.EntryStatus.COPIED,
    )
    table = pmt.decode(bytes(data), FW)
    assert table.flags == pmt.PmtFlags.ARMED | pmt.PmtFlags.REJECTED
    assert (table.reject_reason, table.reject_entry) == (R.OVERLAP, 7)
    assert table.entries[2].fw_status == pmt.EntryStatus.COPIED


def test_os_flag_change_needs_a_new_crc() -> None:
    """Disarming changes an OS-owned bit, so the payload must re-encode."""
    data = bytearray(pmt.encode(BASE))
    data[spec.HEADER.offsets["flags"]] &= ~1
    with pytest.raises(PmtError) as caught:
        pmt.decode(bytes(data))
    assert caught.value.reason == R.BAD_CRC
    disarmed = dataclasses.replace(BASE, flags=BASE.flags & ~pmt.PmtFlags.ARMED)
    assert pmt.decode(pmt.encode(disarmed)).flags == 0


@pytest.mark.parametrize(
    "build",
    [
        lambda: PmtEntry(T.PRESERVE, -1, 0x1000),
        lambda: PmtEntry(T.PRESERVE, 0, TOP),
        lambda: PmtEntry(T.PRESERVE, 0, 0x1000, extra=b"abc"),
        lambda: header(cpu_count=0x10000),
        lambda: header(header_extra=b"x"),
        lambda: dataclasses.replace(
            BASE,
            entries=(PmtEntry(T.TABLE, 0, 0x1000, extra=bytes(8)), PmtEntry(T.TABLE, 0, 0x1000)),
        ),
        lambda: PmtLimits(firmware_ranges=((0, 0),)),
    ],
    ids=[
        "negative base",
        "size past u64",
        "odd extra",
        "cpu_count past u16",
        "odd header_extra",
        "uneven entry extras",
        "empty firmware range",
    ],
)
def test_unrepresentable_models_raise_pmt_error(build: Callable[[], object]) -> None:
    with pytest.raises(PmtError):
        build()
