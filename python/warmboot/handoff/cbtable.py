"""coreboot tables: warmboot's PMT record, and a parser for whole tables.

The layouts follow coreboot 4.15's src/commonlib/include/commonlib/
coreboot_tables.h. coreboot is usually built 32-bit, so 64-bit fields
(struct lb_uint64) are only 4-byte aligned and records need not be 8-byte
multiples (LB_TAG_MEMORY is 8 + 20*n bytes); every format below is packed
little-endian ("<") to match.

warmboot adds one record, LB_TAG_WARMBOOT_PMT, telling the next boot where
the preserved-memory table (PMT) is and what firmware made of it; see
docs/handoff.md for the normative description.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import IntEnum

from ..errors import WarmbootError
from ..pmt import NO_ENTRY, PmtFlags, RejectReason, ResetCause
from ..pmt.spec import CookieKind, Field, Layout
from .physmem import PhysicalMemory, PhysicalMemoryError


class CbtableError(WarmbootError):
    """A coreboot table is missing, malformed, or fails its checksum."""


LB_SIGNATURE = b"LBIO"

LB_TAG_MEMORY = 0x0001
LB_TAG_FORWARD = 0x0011
LB_TAG_CBMEM_ENTRY = 0x0031
# Upstream allocates tags sequentially from 0x0001 (0x0043 was the newest in
# 2022; 0x00c8-0x00cc are CMOS). The upper half 0x5742 ("WB") keeps ours far
# from anything upstream will reach; the low half numbers warmboot's records.
LB_TAG_WARMBOOT_PMT = 0x5742_0001


class LbMemType(IntEnum):
    """lb_memory_range.type values (LB_MEM_*)."""

    RAM = 1
    RESERVED = 2
    ACPI = 3
    NVS = 4
    UNUSABLE = 5
    VENDOR_RSVD = 6
    TABLE = 16


HEADER = struct.Struct("<4sIIIII")  # struct lb_header
RECORD_HEADER = struct.Struct("<II")  # struct lb_record: tag, size
MEMORY_RANGE = struct.Struct("<QQI")  # struct lb_memory_range (lb_uint64 = lo, hi)
FORWARD = struct.Struct("<Q")  # struct lb_forward body
CBMEM_ENTRY = struct.Struct("<QII")  # struct lb_cbmem_entry body
# struct lb_warmboot_pmt (docs/handoff.md), defined once here; payloads/libpmt/pmt.h
# carries the generated C struct that coreboot and the payload tools use.
PMT_RECORD_LAYOUT = Layout(
    "coreboot PMT record",
    "lb_warmboot_pmt",
    "LB_WARMBOOT_PMT",
    (
        Field("tag", "u32", "LB_TAG_WARMBOOT_PMT"),
        Field("size", "u32", "bytes in this record: 56 for layout 1"),
        Field("anchor_addr", "u64", "the PMT anchor: the CBMEM area the OS writes its table into"),
        Field("anchor_size", "u32", "bytes in the anchor"),
        Field("flags", "u32", "the table's flags as firmware left them; 0: no armed table"),
        Field("reject_reason", "u16", "RejectReason, 0 when accepted"),
        Field("reset_cause", "u16", "ResetCause firmware concluded for this boot"),
        Field("reject_entry", "u32", "entry that broke a rule, or 0xFFFFFFFF"),
        Field("generation", "u64", "generation of the table firmware processed"),
        Field("boot_window_base", "u64", "memory firmware and the payload reuse every boot"),
        Field("boot_window_size", "u64", "its size: the OS's BOOT_COPY source"),
        # Layout 2 appends where the arm cookie goes and what low memory firmware owns.
        Field("cookie_addr", "u64", "CMOS offset, or the reset mailbox's address"),
        Field("cookie_kind", "u32", "CookieKind: 1 CMOS, 2 reset mailbox"),
        Field("cookie_size", "u32", "bytes at cookie_addr: 8 (CMOS) or 16 (mailbox)"),
        Field("firmware_low_end", "u64", "memory below this is firmware's on every boot"),
    ),
    under_crc=False,
)
# The record's body, after struct lb_record's tag and size.
PMT_RECORD = struct.Struct("<" + "".join(f.format for f in PMT_RECORD_LAYOUT.fields[2:]))
# Layout 1 ended after boot_window_size; a reader fills the rest with zeros.
PMT_RECORD_LAYOUT1_SIZE = PMT_RECORD_LAYOUT.offsets["cookie_addr"]  # 56
PMT_RECORD_LAYOUT1 = struct.Struct(
    "<"
    + "".join(
        f.format
        for f in PMT_RECORD_LAYOUT.fields[2:]
        if PMT_RECORD_LAYOUT.offsets[f.name] < PMT_RECORD_LAYOUT1_SIZE
    )
)

PMT_RECORD_SIZE = PMT_RECORD_LAYOUT.size  # 80: a multiple of 8
assert PMT_RECORD_SIZE % 8 == 0 and PMT_RECORD_LAYOUT1_SIZE == 56

# Where x86 firmware leaves the table (or a forwarding table) for payloads and
# kernels to find: searched on 16-byte boundaries, as libpayload does.
X86_SEARCH_WINDOWS = ((0x0, 0x1000), (0xF0000, 0x10000))
MAX_FORWARDS = 4


def ip_checksum(data: bytes) -> int:
    """The one's-complement 16-bit checksum of coreboot's compute_ip_checksum().

    Words are little-endian; an odd trailing byte is the low byte of a word.
    """
    if len(data) % 2:
        data = data + b"\0"
    total = sum(struct.unpack_from(f"<{len(data) // 2}H", data))
    while total > 0xFFFF:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


@dataclass(frozen=True)
class MemoryRange:
    start: int
    size: int
    type: int

    @property
    def end(self) -> int:
        return self.start + self.size

    @property
    def type_name(self) -> str:
        try:
            return LbMemType(self.type).name
        except ValueError:
            return f"type {self.type}"


@dataclass(frozen=True)
class MemoryRecord:
    """LB_TAG_MEMORY: the physical memory map coreboot hands on."""

    ranges: tuple[MemoryRange, ...]


@dataclass(frozen=True)
class ForwardRecord:
    """LB_TAG_FORWARD: the real table is at `forward`."""

    forward: int


@dataclass(frozen=True)
class CbmemEntryRecord:
    """LB_TAG_CBMEM_ENTRY: one CBMEM area (its id is four ASCII letters, mostly)."""

    address: int
    entry_size: int
    id: int


@dataclass(frozen=True)
class PmtRecord:
    """LB_TAG_WARMBOOT_PMT: where the OS registers its PMT, what firmware made
    of the table it found there on this boot, and the boot memory window.

    anchor_addr/anchor_size locate the PMT anchor, the fixed CBMEM area the
    OS writes its table into (the table's table_addr is anchor_addr). The
    status fields repeat what firmware wrote into the PMT header for this
    boot (flags 0 when it found no armed table), so the next OS learns the
    outcome even when the table itself is unreadable. boot_window_base/size
    is the memory firmware and the payload reuse on every boot: the OS
    registers it as its BOOT_COPY source.
    """

    anchor_addr: int
    anchor_size: int
    flags: int = 0  # PmtFlags, the header's as firmware left them
    reject_reason: int = RejectReason.NONE
    reset_cause: int = ResetCause.UNKNOWN
    reject_entry: int = NO_ENTRY
    generation: int = 0
    boot_window_base: int = 0
    boot_window_size: int = 0
    cookie_addr: int = 0
    cookie_kind: int = CookieKind.NONE
    cookie_size: int = 0
    firmware_low_end: int = 0

    @property
    def rejected(self) -> bool:
        return bool(self.flags & PmtFlags.REJECTED)


@dataclass(frozen=True)
class RawRecord:
    """A record this parser does not interpret: its tag and the bytes after
    the 8-byte record header (size - 8 of them)."""

    tag: int
    data: bytes


Record = MemoryRecord | ForwardRecord | CbmemEntryRecord | PmtRecord | RawRecord


def _record(tag: int, body: bytes) -> bytes:
    return RECORD_HEADER.pack(tag, RECORD_HEADER.size + len(body)) + body


def encode_record(record: Record) -> bytes:
    """The bytes of one record, header included, as coreboot lays it out."""
    if isinstance(record, MemoryRecord):
        return _record(
            LB_TAG_MEMORY,
            b"".join(MEMORY_RANGE.pack(r.start, r.size, r.type) for r in record.ranges),
        )
    if isinstance(record, ForwardRecord):
        return _record(LB_TAG_FORWARD, FORWARD.pack(record.forward))
    if isinstance(record, CbmemEntryRecord):
        return _record(
            LB_TAG_CBMEM_ENTRY, CBMEM_ENTRY.pack(record.address, record.entry_size, record.id)
        )
    if isinstance(record, PmtRecord):
        return _record(
            LB_TAG_WARMBOOT_PMT,
            PMT_RECORD.pack(
                record.anchor_addr,
                record.anchor_size,
                record.flags,
                record.reject_reason,
                record.reset_cause,
                record.reject_entry,
                record.generation,
                record.boot_window_base,
                record.boot_window_size,
                record.cookie_addr,
                record.cookie_kind,
                record.cookie_size,
                record.firmware_low_end,
            ),
        )
    if isinstance(record, RawRecord):
        return _record(record.tag, record.data)
    raise TypeError(f"not a coreboot table record: {record!r}")


def decode_record(data: bytes) -> Record:
    """Decode one record from `data`, which starts at its lb_record header and
    holds at least `size` bytes. Records longer than this parser knows keep
    their known prefix (coreboot extends records by appending fields)."""
    if len(data) < RECORD_HEADER.size:
        raise CbtableError(f"record header needs {RECORD_HEADER.size} bytes, have {len(data)}")
    tag, size = RECORD_HEADER.unpack_from(data)
    if size < RECORD_HEADER.size or size > len(data):
        raise CbtableError(f"record tag {tag:#x} has bad size {size} ({len(data)} bytes left)")
    body = data[RECORD_HEADER.size : size]

    def need(layout: struct.Struct, name: str) -> None:
        if len(body) < layout.size:
            raise CbtableError(
                f"{name} record is {size} bytes, needs {RECORD_HEADER.size + layout.size}"
            )

    if tag == LB_TAG_MEMORY:
        count = len(body) // MEMORY_RANGE.size
        return MemoryRecord(
            tuple(
                MemoryRange(*MEMORY_RANGE.unpack_from(body, i * MEMORY_RANGE.size))
                for i in range(count)
            )
        )
    if tag == LB_TAG_FORWARD:
        need(FORWARD, "LB_TAG_FORWARD")
        return ForwardRecord(*FORWARD.unpack_from(body))
    if tag == LB_TAG_CBMEM_ENTRY:
        need(CBMEM_ENTRY, "LB_TAG_CBMEM_ENTRY")
        return CbmemEntryRecord(*CBMEM_ENTRY.unpack_from(body))
    if tag == LB_TAG_WARMBOOT_PMT:
        if len(body) + RECORD_HEADER.size < PMT_RECORD_SIZE:
            # Layout 1 firmware: the fields it lacks read as zero.
            need(PMT_RECORD_LAYOUT1, "LB_TAG_WARMBOOT_PMT")
            body = bytes(body[: PMT_RECORD_LAYOUT1.size]).ljust(PMT_RECORD.size, b"\0")
        return PmtRecord(*PMT_RECORD.unpack_from(body))
    return RawRecord(tag, bytes(body))


@dataclass(frozen=True)
class LbHeader:
    header_bytes: int
    header_checksum: int
    table_bytes: int
    table_checksum: int
    table_entries: int


@dataclass(frozen=True)
class CorebootTable:
    """One parsed table; `forwarded_from` lists the addresses of the
    forwarding tables that led here, first found first."""

    address: int
    header: LbHeader
    records: tuple[Record, ...]
    forwarded_from: tuple[int, ...] = field(default=())

    @property
    def memory_ranges(self) -> tuple[MemoryRange, ...]:
        return tuple(r for rec in self.records if isinstance(rec, MemoryRecord) for r in rec.ranges)

    @property
    def cbmem_entries(self) -> tuple[CbmemEntryRecord, ...]:
        return tuple(r for r in self.records if isinstance(r, CbmemEntryRecord))

    @property
    def forward(self) -> int | None:
        return next((r.forward for r in self.records if isinstance(r, ForwardRecord)), None)

    @property
    def pmt_record(self) -> PmtRecord | None:
        return next((r for r in self.records if isinstance(r, PmtRecord)), None)


def encode_table(records: Iterable[Record]) -> bytes:
    """A complete table (lb_header + records) with both checksums, as
    coreboot's lb_table_fini() writes it."""
    encoded = [encode_record(r) for r in records]
    body = b"".join(encoded)
    unsummed = HEADER.pack(LB_SIGNATURE, HEADER.size, 0, len(body), ip_checksum(body), len(encoded))
    return (
        HEADER.pack(
            LB_SIGNATURE,
            HEADER.size,
            ip_checksum(unsummed),
            len(body),
            ip_checksum(body),
            len(encoded),
        )
        + body
    )


def decode_header(data: bytes, address: int = 0) -> LbHeader:
    """Decode and verify an lb_header (its own checksum) from `data`."""
    if len(data) < HEADER.size:
        raise CbtableError(f"coreboot table header at {address:#x} is truncated")
    signature, *fields = HEADER.unpack_from(data)
    if signature != LB_SIGNATURE:
        raise CbtableError(f"no LBIO signature at {address:#x}")
    header = LbHeader(*fields)
    if header.header_bytes != HEADER.size:
        raise CbtableError(
            f"coreboot table at {address:#x}: header_bytes is {header.header_bytes}, "
            f"expected {HEADER.size}"
        )
    zeroed = data[:8] + b"\0\0\0\0" + data[12 : HEADER.size]
    if ip_checksum(zeroed) != header.header_checksum:
        raise CbtableError(
            f"coreboot table at {address:#x}: header checksum {header.header_checksum:#06x} "
            f"does not match computed {ip_checksum(zeroed):#06x}"
        )
    return header


def decode_table(data: bytes, address: int = 0) -> CorebootTable:
    """Parse a table from `data` (which starts at its lb_header) without
    following forward records; both checksums are verified."""
    header = decode_header(data, address)
    body = data[HEADER.size : HEADER.size + header.table_bytes]
    if len(body) < header.table_bytes:
        raise CbtableError(
            f"coreboot table at {address:#x} claims {header.table_bytes} bytes of records, "
            f"only {len(body)} available"
        )
    if ip_checksum(body) != header.table_checksum:
        raise CbtableError(
            f"coreboot table at {address:#x}: table checksum {header.table_checksum:#06x} "
            f"does not match computed {ip_checksum(body):#06x}"
        )
    records = []
    offset = 0
    for index in range(header.table_entries):
        if offset >= len(body):
            raise CbtableError(
                f"coreboot table at {address:#x}: record {index} of {header.table_entries} "
                f"starts past the {header.table_bytes} table bytes"
            )
        try:
            record = decode_record(body[offset:])
        except CbtableError as exc:
            raise CbtableError(
                f"coreboot table at {address:#x}, offset {offset:#x}: {exc}"
            ) from exc
        records.append(record)
        offset += RECORD_HEADER.unpack_from(body, offset)[1]
    return CorebootTable(address, header, tuple(records))


def read_table(memory: PhysicalMemory, address: int) -> CorebootTable:
    """Read and parse the table whose header is at physical `address`."""
    try:
        head = memory.read(address, HEADER.size)
        header = decode_header(head, address)
        data = head + memory.read(address + HEADER.size, header.table_bytes)
    except PhysicalMemoryError as exc:
        raise CbtableError(f"cannot read coreboot table at {address:#x}: {exc}") from exc
    return decode_table(data, address)


def follow_forwards(memory: PhysicalMemory, table: CorebootTable) -> CorebootTable:
    """Follow LB_TAG_FORWARD records to the table that has the content."""
    chain: list[int] = []
    while table.forward is not None:
        chain.append(table.address)
        if len(chain) > MAX_FORWARDS:
            raise CbtableError(
                f"coreboot tables forward more than {MAX_FORWARDS} times: "
                + " -> ".join(f"{a:#x}" for a in chain)
            )
        table = read_table(memory, table.forward)
    return CorebootTable(table.address, table.header, table.records, tuple(chain))


def find_table(
    memory: PhysicalMemory, windows: Iterable[tuple[int, int]] = X86_SEARCH_WINDOWS
) -> CorebootTable:
    """Find the coreboot table the way payloads do on x86: the first valid
    LBIO header on a 16-byte boundary in the search windows, then its
    forward records. Windows the memory source cannot read are skipped."""
    problems: list[str] = []
    for start, length in windows:
        try:
            window = memory.read(start, length)
        except PhysicalMemoryError as exc:
            problems.append(str(exc))
            continue
        offset = window.find(LB_SIGNATURE)
        while offset >= 0:
            if offset % 16 == 0:
                try:
                    table = read_table(memory, start + offset)
                except CbtableError as exc:
                    problems.append(str(exc))
                else:
                    return follow_forwards(memory, table)
            offset = window.find(LB_SIGNATURE, offset + 1)
    searched = ", ".join(f"[{s:#x}, {s + n:#x})" for s, n in windows)
    detail = f" ({'; '.join(problems)})" if problems else ""
    raise CbtableError(f"no valid coreboot table in {searched}{detail}")
