"""The preserved-memory table (PMT), format v1: model, encoder, decoder, checks.

The running OS hands firmware a PMT that names the memory to keep across a
warm reset, the low memory firmware must copy away before reusing it, and
where the SMM watchdog handler saves CPU registers. docs/pmt.md is the
normative spec; its field tables and payloads/libpmt/pmt.h are generated
from the Layout definitions below (see cgen.py), so the wire format is
written down exactly once.

decode() and validate() apply the same ordered checks as the freestanding C
validator (payloads/libpmt/pmt_validate.c); the first rule broken decides the
RejectReason, so both report the same code for the same bytes.
"""
from __future__ import annotations

import enum
import struct
import zlib
from dataclasses import dataclass
from functools import cached_property
from typing import Any, Iterable, Mapping, Sequence

from ..errors import WarmbootError

MAGIC = b"WBOOTPMT"
MAJOR = 1
MINOR = 0

PAGE_SIZE = 4096
# ELF notes are arrays of 32-bit words; Linux's VMCOREINFO and crash notes
# are word-aligned but not page-aligned.
NOTE_ALIGN = 4
# header_size, entry_size and cpu_record_size stay multiples of 8 so every
# u64 a later minor version appends is naturally aligned.
SIZE_GRANULE = 8

EM_X86_64 = 62
EM_AARCH64 = 183

NO_ENTRY = 0xFFFFFFFF
U64_LIMIT = 1 << 64

# elf_gregset_t order: a record's gregs copy straight into NT_PRSTATUS pr_reg.
X86_64_GREGS = (
    "r15", "r14", "r13", "r12", "rbp", "rbx", "r11", "r10", "r9", "r8",
    "rax", "rcx", "rdx", "rsi", "rdi", "orig_rax", "rip", "cs", "eflags",
    "rsp", "ss", "fs_base", "gs_base", "ds", "es", "fs", "gs",
)
AARCH64_GREGS = tuple(f"x{n}" for n in range(31)) + ("sp", "pc", "pstate")
X86_64_SYSREGS = ("cr0", "cr2", "cr3", "cr4", "efer", "kernel_gs_base", "dr6", "dr7")
AARCH64_SYSREGS = ("esr_el1", "far_el1", "elr_el1", "spsr_el1",
                   "sctlr_el1", "ttbr0_el1", "ttbr1_el1", "tcr_el1")
MACHINE_NAMES = {EM_X86_64: "x86_64", EM_AARCH64: "aarch64"}
GREGS_BY_MACHINE = {EM_X86_64: X86_64_GREGS, EM_AARCH64: AARCH64_GREGS}
SYSREGS_BY_MACHINE = {EM_X86_64: X86_64_SYSREGS, EM_AARCH64: AARCH64_SYSREGS}
MAX_GREGS = max(len(g) for g in GREGS_BY_MACHINE.values())
MAX_SYSREGS = 8
# Where pr_reg sits in struct elf_prstatus, and that struct's size.
PRSTATUS_PR_REG_OFFSET = 112
PRSTATUS_SIZE = {EM_X86_64: 336, EM_AARCH64: 392}

CPU_RECORD_MAGIC = int.from_bytes(b"PCPU", "little")
CPU_RECORD_VERSION = 1


class PmtError(WarmbootError):
    """A PMT (or CPU record) that cannot be encoded, decoded or accepted.

    `reason` is the RejectReason firmware would record for a table it
    refuses (None for problems that are not about table bytes, such as bad
    JSON); `entry` is the index of the offending entry, or None.
    """

    def __init__(self, message: str, reason: RejectReason | None = None,
                 entry: int | None = None) -> None:
        super().__init__(message)
        self.reason = reason
        self.entry = entry


class EntryType(enum.IntEnum):
    """What an entry describes."""
    PRESERVE = 1     # memory firmware must leave intact and never allocate
    BOOT_COPY = 2    # memory firmware reuses; it copies base -> dest first
    CPU_STATE = 3    # the CPU register save area (cpu_count records)
    VMCOREINFO = 4   # the VMCOREINFO ELF note
    CRASH_NOTES = 5  # one CPU's crash notes buffer (entry.cpu says which)
    TABLE = 6        # the pages holding this table


# Entries that carry memory to keep; they may not overlap one another.
MEMORY_TYPES = frozenset({EntryType.PRESERVE, EntryType.BOOT_COPY})
# Entries that point at objects inside preserved memory.
OBJECT_TYPES = frozenset({EntryType.CPU_STATE, EntryType.VMCOREINFO,
                          EntryType.CRASH_NOTES, EntryType.TABLE})
NOTE_TYPES = frozenset({EntryType.VMCOREINFO, EntryType.CRASH_NOTES})


class EntryStatus(enum.IntEnum):
    """What firmware did with an entry (firmware-owned entry.fw_status)."""
    NONE = 0       # not looked at yet (the OS writes this)
    PRESERVED = 1  # kept in place and reserved
    COPIED = 2     # BOOT_COPY: base copied to dest, dest reserved
    SKIPPED = 3    # the table was rejected; nothing was done
    FAILED = 4     # firmware tried and could not (e.g. copy error)


class PmtFlags(enum.IntFlag, boundary=enum.KEEP):
    """Header flags: bits 0-15 belong to the OS, bits 16-31 to firmware."""
    ARMED = 1 << 0            # OS: capture this table on the next warm reset
    WARM_RESET_SEEN = 1 << 16  # firmware found the table after a warm reset
    WDT_FIRED = 1 << 17        # the SMM watchdog handler saved CPU state
    COPY_DONE = 1 << 18        # every BOOT_COPY has been copied
    REJECTED = 1 << 19         # firmware refused the table; see reject_reason


OS_FLAGS_MASK = 0x0000FFFF
FW_FLAGS_MASK = 0xFFFF0000


class ResetCause(enum.IntEnum):
    """Why firmware ran with an armed table (firmware-owned reset_cause)."""
    UNKNOWN = 0    # not recorded (the OS writes this)
    WARM_RESET = 1  # a warm reset the platform reported as such (OS reboot, CF9)
    WATCHDOG = 2    # the SMM watchdog handler reset the machine
    OTHER = 3       # a warm reset from another source (reset button, TCO)


class RejectReason(enum.IntEnum):
    """Why a table was refused, in the order the checks run (docs/pmt.md)."""
    NONE = 0
    BAD_MAGIC = 1
    BAD_VERSION = 2
    BAD_SIZES = 3
    COUNT_OVERFLOW = 4
    BAD_CRC = 5
    TOO_MANY_ENTRIES = 6
    STALE = 7
    BAD_MACHINE = 8
    BAD_CPU_COUNT = 9
    BAD_ENTRY = 10
    ZERO_SIZE = 11
    WRAP = 12
    UNALIGNED = 13
    PRESERVE_IN_FIRMWARE = 14
    DEST_IN_FIRMWARE = 15
    CPU_STATE_FORBIDDEN = 16
    METADATA_MISMATCH = 17
    TABLE_OUTSIDE_ENTRY = 18
    OVERLAP = 19
    COPY_DEST_CONFLICT = 20
    METADATA_OUTSIDE_PRESERVED = 21


class CpuRecordFlags(enum.IntFlag, boundary=enum.KEEP):
    """CPU record flags (firmware or the OS panic path writes them)."""
    VALID = 1 << 0   # registers are complete; written last
    FROM_SMM = 1 << 1    # saved by the SMM watchdog handler
    FROM_PANIC = 1 << 2  # saved by the OS panic path before the reset


# --- the one layout definition ------------------------------------------

class Owner(enum.Enum):
    """Who writes a field. Firmware-owned bytes are outside the CRC."""
    OS = "OS"
    FIRMWARE = "firmware"
    SPLIT = "OS: bits 0-15, firmware: bits 16-31"


_KIND_FORMAT = {"u8": "B", "u16": "H", "u32": "I", "u64": "Q"}
_KIND_SIZE = {"u8": 1, "u16": 2, "u32": 4, "u64": 8}


@dataclass(frozen=True)
class Field:
    """One field of a wire structure: name, scalar kind, array count."""
    name: str
    kind: str
    doc: str
    owner: Owner = Owner.OS
    count: int = 1

    @property
    def item_size(self) -> int:
        return _KIND_SIZE[self.kind]

    @property
    def item_format(self) -> str:
        return _KIND_FORMAT[self.kind]

    @property
    def size(self) -> int:
        return self.item_size * self.count

    @property
    def format(self) -> str:
        if self.kind == "u8" and self.count > 1:
            return f"{self.count}s"
        return f"{self.count if self.count > 1 else ''}{_KIND_FORMAT[self.kind]}"


@dataclass(frozen=True)
class Layout:
    """A packed little-endian structure whose fields are naturally aligned,
    so the C struct of the same fields has no padding (pmt.h asserts it)."""
    name: str
    c_struct: str
    c_prefix: str
    fields: tuple[Field, ...]
    # Whether the table CRC covers it (so its firmware bytes are masked).
    under_crc: bool = True

    @cached_property
    def offsets(self) -> dict[str, int]:
        offsets, at = {}, 0
        for f in self.fields:
            if at % _KIND_SIZE[f.kind]:
                raise AssertionError(f"{self.name}.{f.name} is not naturally aligned")
            offsets[f.name] = at
            at += f.size
        return offsets

    @cached_property
    def size(self) -> int:
        return sum(f.size for f in self.fields)

    @cached_property
    def struct(self) -> struct.Struct:
        return struct.Struct("<" + "".join(f.format for f in self.fields))

    def field(self, name: str) -> Field:
        return next(f for f in self.fields if f.name == name)

    def unpack(self, data: bytes, offset: int = 0) -> dict[str, Any]:
        flat = iter(self.struct.unpack_from(data, offset))
        out: dict[str, Any] = {}
        for f in self.fields:
            if f.count > 1 and f.kind != "u8":
                out[f.name] = tuple(next(flat) for _ in range(f.count))
            else:
                out[f.name] = next(flat)
        return out

    def pack(self, values: Mapping[str, Any]) -> bytes:
        flat: list[Any] = []
        for f in self.fields:
            if f.count > 1 and f.kind == "u8":
                flat.append(values.get(f.name, b""))
            elif f.count > 1:
                value = tuple(values.get(f.name, ()))
                flat.extend(value + (0,) * (f.count - len(value)))
            else:
                flat.append(values.get(f.name, 0))
        return self.struct.pack(*flat)

    def fits(self, name: str, value: int) -> bool:
        return 0 <= value < (1 << (8 * _KIND_SIZE[self.field(name).kind]))

    def firmware_bytes(self) -> tuple[int, int]:
        """The one contiguous [start, end) byte range that firmware owns,
        zeroed for the CRC (the firmware half of a SPLIT field included)."""
        spans = []
        for f in self.fields:
            start = self.offsets[f.name]
            if f.owner is Owner.FIRMWARE:
                spans.append((start, start + f.size))
            elif f.owner is Owner.SPLIT:
                spans.append((start + f.size // 2, start + f.size))
        if not spans:
            return (0, 0)
        for (_, end), (start, _) in zip(spans, spans[1:]):
            if end != start:
                raise AssertionError(f"{self.name}: firmware-owned bytes are not contiguous")
        return (spans[0][0], spans[-1][1])


FW = Owner.FIRMWARE

HEADER = Layout("header", "pmt_header_v1", "PMT_HEADER", (
    Field("magic", "u8", 'ASCII "WBOOTPMT"', count=8),
    Field("major", "u16", "1; readers reject any other major"),
    Field("minor", "u16", "0; a minor bump only appends fields"),
    Field("header_size", "u32", "entries start here (>= 120, multiple of 8)"),
    Field("entry_size", "u32", "bytes per entry (>= 32, multiple of 8)"),
    Field("entry_count", "u32", "number of entries"),
    Field("total_size", "u32", "bytes covered by crc32: header, entries, trailer"),
    Field("crc32", "u32", "IEEE CRC-32; itself and firmware bytes read as 0"),
    Field("generation", "u64", "bumped by the OS on every registration"),
    Field("flags", "u32", "PmtFlags (PMT_FLAG_*)", owner=Owner.SPLIT),
    Field("reject_reason", "u16", "RejectReason (PMT_REJECT_*) when REJECTED", owner=FW),
    Field("reset_cause", "u16", "ResetCause (PMT_RESET_*) firmware saw", owner=FW),
    Field("reject_entry", "u32", "entry that broke a rule, or 0xFFFFFFFF", owner=FW),
    Field("boot_count", "u32", "warm resets that processed this armed table", owner=FW),
    Field("fw_reserved", "u64", "reserved for firmware status (0)", owner=FW),
    Field("e_machine", "u16", "ELF machine: 62 (x86_64) or 183 (aarch64)"),
    Field("cpu_count", "u16", "CPU record slots in CPU_STATE (possible CPUs)"),
    Field("cpu_record_size", "u32", "bytes per CPU record (>= 384, multiple of 8)"),
    Field("table_addr", "u64", "physical address this table lives at"),
    Field("arm_cookie", "u64", "nonce also handed to firmware at registration"),
    Field("vmcoreinfo_addr", "u64", "VMCOREINFO note address (0: none)"),
    Field("vmcoreinfo_size", "u64", "its size in bytes (0: none)"),
    Field("cpu_state_addr", "u64", "CPU register save area address (0: none)"),
    Field("cpu_state_size", "u64", "its size in bytes (0: none)"),
))

ENTRY = Layout("entry", "pmt_entry_v1", "PMT_ENTRY", (
    Field("base", "u64", "physical start"),
    Field("size", "u64", "bytes"),
    Field("dest", "u64", "BOOT_COPY: where firmware copies base to; else 0"),
    Field("type", "u16", "EntryType (PMT_ENTRY_*)"),
    Field("fw_status", "u16", "EntryStatus (PMT_STATUS_*)", owner=FW),
    Field("cpu", "u32", "CRASH_NOTES: Linux CPU number; else 0"),
))

CPU_RECORD = Layout("cpu record", "pmt_cpu_record_v1", "PMT_CPU_RECORD", (
    Field("magic", "u32", 'ASCII "PCPU" (0x55504350); the OS pre-fills it'),
    Field("version", "u16", "1; the OS pre-fills it"),
    Field("reserved0", "u16", "0"),
    Field("flags", "u32", "CpuRecordFlags (PMT_CPU_*); VALID last", owner=FW),
    Field("nregs", "u16", "valid gregs (27 x86_64, 34 aarch64)", owner=FW),
    Field("nsysregs", "u16", "valid entries in sysregs", owner=FW),
    Field("cpu_id", "u64", "APIC id (x86) or MPIDR (arm64); the OS pre-fills it"),
    Field("timestamp", "u64", "TSC or CNTVCT when the registers were saved", owner=FW),
    Field("gregs", "u64", "general registers, elf_gregset_t order", owner=FW, count=MAX_GREGS),
    Field("sysregs", "u64", "system registers, see the register table",
          owner=FW, count=MAX_SYSREGS),
    Field("reserved1", "u64", "0", count=2),
), under_crc=False)

HEADER_SIZE = HEADER.size
ENTRY_SIZE = ENTRY.size
CPU_RECORD_SIZE = CPU_RECORD.size
LAYOUTS = (HEADER, ENTRY, CPU_RECORD)


# --- the model -----------------------------------------------------------

def _check_fits(layout: Layout, obj: object, names: Iterable[str]) -> None:
    for name in names:
        value = getattr(obj, name)
        if not isinstance(value, int) or not layout.fits(name, value):
            raise PmtError(f"{layout.name} field {name}={value!r} does not fit its "
                           f"{layout.field(name).kind}")


def _check_extra(what: str, extra: bytes) -> None:
    if not isinstance(extra, bytes) or len(extra) % SIZE_GRANULE:
        raise PmtError(f"{what} must be bytes whose length is a multiple of {SIZE_GRANULE}")


_ENTRY_INTS = tuple(f.name for f in ENTRY.fields)


@dataclass(frozen=True)
class PmtEntry:
    """One entry. `extra` holds bytes a newer minor version appended."""
    type: EntryType
    base: int
    size: int
    dest: int = 0
    cpu: int = 0
    fw_status: int = EntryStatus.NONE
    extra: bytes = b""

    def __post_init__(self) -> None:
        _check_fits(ENTRY, self, _ENTRY_INTS)
        _check_extra("entry extra", self.extra)
        if self.type in EntryType.__members__.values():
            object.__setattr__(self, "type", EntryType(self.type))

    @property
    def last(self) -> int:
        """The last byte's address (inclusive, so a region may end at 2**64)."""
        return self.base + self.size - 1


# Header fields the model holds; the rest are derived by encode().
_DERIVED = frozenset({"magic", "header_size", "entry_size", "entry_count", "total_size",
                      "crc32"})
_PMT_INTS = tuple(f.name for f in HEADER.fields if f.name not in _DERIVED)


@dataclass(frozen=True)
class Pmt:
    """A preserved-memory table. Sizes and the CRC are derived on encode;
    `header_extra`, entries' `extra` and `trailer` keep bytes a newer minor
    version added, so decode -> encode is lossless."""
    e_machine: int
    cpu_count: int
    table_addr: int
    entries: tuple[PmtEntry, ...]
    generation: int = 0
    flags: PmtFlags = PmtFlags(0)
    arm_cookie: int = 0
    vmcoreinfo_addr: int = 0
    vmcoreinfo_size: int = 0
    cpu_state_addr: int = 0
    cpu_state_size: int = 0
    cpu_record_size: int = CPU_RECORD_SIZE
    major: int = MAJOR
    minor: int = MINOR
    reject_reason: int = RejectReason.NONE
    reset_cause: int = ResetCause.UNKNOWN
    reject_entry: int = 0
    boot_count: int = 0
    fw_reserved: int = 0
    header_extra: bytes = b""
    trailer: bytes = b""

    def __post_init__(self) -> None:
        object.__setattr__(self, "entries", tuple(self.entries))
        _check_fits(HEADER, self, _PMT_INTS)
        object.__setattr__(self, "flags", PmtFlags(self.flags))
        _check_extra("header_extra", self.header_extra)
        if not isinstance(self.trailer, bytes):
            raise PmtError("trailer must be bytes")
        for entry in self.entries:
            if not isinstance(entry, PmtEntry):
                raise PmtError(f"entries must be PmtEntry, not {type(entry).__name__}")
        if len({len(e.extra) for e in self.entries}) > 1:
            raise PmtError("every entry must carry the same number of extra bytes")
        if not HEADER.fits("total_size", self.total_size):
            raise PmtError(f"table of {self.total_size} bytes is too large")

    @property
    def header_size(self) -> int:
        return HEADER_SIZE + len(self.header_extra)

    @property
    def entry_size(self) -> int:
        return ENTRY_SIZE + (len(self.entries[0].extra) if self.entries else 0)

    @property
    def total_size(self) -> int:
        return self.header_size + len(self.entries) * self.entry_size + len(self.trailer)

    def entries_of(self, kind: EntryType) -> tuple[PmtEntry, ...]:
        return tuple(e for e in self.entries if e.type == kind)


@dataclass(frozen=True)
class PmtLimits:
    """What the reader will accept beyond the format itself.

    firmware_ranges are (base, size) ranges firmware needs for itself (its
    stages, CBMEM, SMRAM): nothing may be preserved there, no BOOT_COPY may
    land there, and CPU_STATE may not live there. arm_cookie, when not 0,
    must equal the table's (firmware's copy from registration).
    """
    max_entries: int = 1024
    max_cpus: int = 4096
    firmware_ranges: tuple[tuple[int, int], ...] = ()
    arm_cookie: int = 0

    def __post_init__(self) -> None:
        object.__setattr__(self, "firmware_ranges", tuple(
            (int(b), int(s)) for b, s in self.firmware_ranges))
        for base, size in self.firmware_ranges:
            if base < 0 or size <= 0 or base + size > U64_LIMIT:
                raise PmtError(f"bad firmware range {base:#x}+{size:#x}")
        if not (0 <= self.max_entries < 1 << 32 and 0 <= self.max_cpus < 1 << 32
                and 0 <= self.arm_cookie < U64_LIMIT):
            raise PmtError("limits do not fit their fields")


DEFAULT_LIMITS = PmtLimits()


# --- encoding ------------------------------------------------------------

def _crc(buf: bytes | bytearray, header_size: int, entry_size: int, entry_count: int,
         total_size: int) -> int:
    """CRC-32 over total_size bytes with crc32 and every firmware-owned byte
    read as zero, so firmware never has to re-sign (and so never blesses) a
    table it only annotates."""
    work = bytearray(buf[:total_size])
    crc_at = HEADER.offsets["crc32"]
    work[crc_at:crc_at + 4] = bytes(4)
    start, end = HEADER.firmware_bytes()
    work[start:end] = bytes(end - start)
    e_start, e_end = ENTRY.firmware_bytes()
    for i in range(entry_count):
        at = header_size + i * entry_size
        work[at + e_start:at + e_end] = bytes(e_end - e_start)
    return zlib.crc32(work)


def compute_crc(data: bytes) -> int:
    """The CRC a table's bytes should carry, from the sizes in its header.
    The header must be readable and its sizes consistent (as decode checks)."""
    h = HEADER.unpack(data)
    return _crc(data, h["header_size"], h["entry_size"], h["entry_count"], h["total_size"])


def encode(pmt: Pmt) -> bytes:
    """The table's bytes, sizes and CRC filled in. Does not check the rules
    (validate() does), so tests and tools can build tables that break them."""
    header = {name: getattr(pmt, name) for name in _PMT_INTS}
    header.update(magic=MAGIC, header_size=pmt.header_size, entry_size=pmt.entry_size,
                  entry_count=len(pmt.entries), total_size=pmt.total_size, crc32=0)
    parts = [HEADER.pack(header), pmt.header_extra]
    for entry in pmt.entries:
        parts.append(ENTRY.pack({name: getattr(entry, name) for name in _ENTRY_INTS}))
        parts.append(entry.extra)
    parts.append(pmt.trailer)
    buf = bytearray(b"".join(parts))
    crc = _crc(buf, pmt.header_size, pmt.entry_size, len(pmt.entries), pmt.total_size)
    struct.pack_into("<I", buf, HEADER.offsets["crc32"], crc)
    return bytes(buf)


# --- decoding and the rules ---------------------------------------------

def _reject(reason: RejectReason, message: str, entry: int | None = None) -> PmtError:
    where = f"entry {entry}: " if entry is not None else ""
    return PmtError(f"PMT rejected: {reason.name} ({int(reason)}): {where}{message}",
                    reason, entry)


def _overlaps(a_base: int, a_last: int, b_base: int, b_last: int) -> bool:
    return a_base <= b_last and b_base <= a_last


def _overlaps_any(base: int, last: int, ranges: Sequence[tuple[int, int]]) -> bool:
    return any(_overlaps(base, last, b, b + s - 1) for b, s in ranges)


def _check_header(buf: bytes, limits: PmtLimits) -> dict[str, Any]:
    size = len(buf)
    if size < len(MAGIC):
        raise _reject(RejectReason.BAD_SIZES, f"{size} bytes cannot hold the magic")
    if buf[:len(MAGIC)] != MAGIC:
        raise _reject(RejectReason.BAD_MAGIC, f"magic {buf[:len(MAGIC)]!r} is not {MAGIC!r}")
    major_at = HEADER.offsets["major"]
    if size < major_at + 2:
        raise _reject(RejectReason.BAD_SIZES, f"{size} bytes cannot hold the version")
    (major,) = struct.unpack_from("<H", buf, major_at)
    if major != MAJOR:
        raise _reject(RejectReason.BAD_VERSION, f"major version {major}; this reader knows {MAJOR}")
    if size < HEADER_SIZE:
        raise _reject(RejectReason.BAD_SIZES, f"{size} bytes cannot hold a v1 header "
                      f"({HEADER_SIZE} bytes)")
    h = HEADER.unpack(buf)
    for name, minimum in (("header_size", HEADER_SIZE), ("entry_size", ENTRY_SIZE),
                          ("cpu_record_size", CPU_RECORD_SIZE)):
        if h[name] < minimum or h[name] % SIZE_GRANULE:
            raise _reject(RejectReason.BAD_SIZES, f"{name} {h[name]} is not a multiple of "
                          f"{SIZE_GRANULE} of at least {minimum}")
    if not h["header_size"] <= h["total_size"] <= size:
        raise _reject(RejectReason.BAD_SIZES, f"total_size {h['total_size']} is not between "
                      f"header_size {h['header_size']} and the {size} bytes given")
    if h["header_size"] + h["entry_count"] * h["entry_size"] > h["total_size"]:
        raise _reject(RejectReason.COUNT_OVERFLOW, f"{h['entry_count']} entries of "
                      f"{h['entry_size']} bytes do not fit in total_size {h['total_size']}")
    crc = _crc(buf, h["header_size"], h["entry_size"], h["entry_count"], h["total_size"])
    if crc != h["crc32"]:
        raise _reject(RejectReason.BAD_CRC, f"crc32 {h['crc32']:#010x}, computed {crc:#010x}")
    if h["entry_count"] > limits.max_entries:
        raise _reject(RejectReason.TOO_MANY_ENTRIES, f"{h['entry_count']} entries, the limit "
                      f"is {limits.max_entries}")
    if limits.arm_cookie and h["arm_cookie"] != limits.arm_cookie:
        raise _reject(RejectReason.STALE, f"arm_cookie {h['arm_cookie']:#x} is not the "
                      f"registered {limits.arm_cookie:#x}")
    if h["e_machine"] not in MACHINE_NAMES:
        raise _reject(RejectReason.BAD_MACHINE, f"e_machine {h['e_machine']} is neither "
                      f"{EM_X86_64} (x86_64) nor {EM_AARCH64} (aarch64)")
    if not 1 <= h["cpu_count"] <= limits.max_cpus:
        raise _reject(RejectReason.BAD_CPU_COUNT, f"cpu_count {h['cpu_count']} is not "
                      f"between 1 and {limits.max_cpus}")
    return h


def _check_entry(i: int, e: dict[str, int], cpu_count: int, limits: PmtLimits) -> None:
    try:
        kind = EntryType(e["type"])
    except ValueError:
        raise _reject(RejectReason.BAD_ENTRY, f"unknown type {e['type']}", i) from None
    if (kind == EntryType.BOOT_COPY) != (e["dest"] != 0):
        raise _reject(RejectReason.BAD_ENTRY, f"dest {e['dest']:#x} on a {kind.name} entry "
                      "(only BOOT_COPY has one, and it must not be 0)", i)
    if kind == EntryType.CRASH_NOTES and e["cpu"] >= cpu_count:
        raise _reject(RejectReason.BAD_ENTRY, f"crash notes of cpu {e['cpu']}, but cpu_count "
                      f"is {cpu_count}", i)
    base, size, dest = e["base"], e["size"], e["dest"]
    if size == 0:
        raise _reject(RejectReason.ZERO_SIZE, f"{kind.name} of size 0", i)
    if base + size > U64_LIMIT or dest + size > U64_LIMIT:
        raise _reject(RejectReason.WRAP, f"{kind.name} {base:#x}+{size:#x} (dest {dest:#x}) "
                      "wraps past 2**64", i)
    align = NOTE_ALIGN if kind in NOTE_TYPES else PAGE_SIZE
    if (base | size | dest) % align:
        raise _reject(RejectReason.UNALIGNED, f"{kind.name} {base:#x}+{size:#x} (dest "
                      f"{dest:#x}) is not {align}-byte aligned", i)
    fw = limits.firmware_ranges
    last = base + size - 1
    if kind == EntryType.PRESERVE and _overlaps_any(base, last, fw):
        raise _reject(RejectReason.PRESERVE_IN_FIRMWARE, f"PRESERVE {base:#x}+{size:#x} "
                      "overlaps firmware memory (make it a BOOT_COPY)", i)
    if kind == EntryType.BOOT_COPY and _overlaps_any(dest, dest + size - 1, fw):
        raise _reject(RejectReason.DEST_IN_FIRMWARE, f"BOOT_COPY dest {dest:#x}+{size:#x} "
                      "overlaps firmware memory", i)
    if kind == EntryType.CPU_STATE and _overlaps_any(base, last, fw):
        raise _reject(RejectReason.CPU_STATE_FORBIDDEN, f"CPU_STATE {base:#x}+{size:#x} "
                      "overlaps firmware memory", i)


def _check_pointer(name: str, kind: EntryType, addr: int, size: int,
                   entries: Sequence[PmtEntry]) -> None:
    """The header's pointer and the entry of `kind` must say the same."""
    found = [i for i, e in enumerate(entries) if e.type == kind]
    at = found[0] if found else None
    if size == 0:
        if addr != 0 or found:
            raise _reject(RejectReason.METADATA_MISMATCH, f"{name} size is 0 but its address "
                          f"is {addr:#x} or a {kind.name} entry exists", at)
    elif at is None or (entries[at].base, entries[at].size) != (addr, size):
        raise _reject(RejectReason.METADATA_MISMATCH, f"header {name} {addr:#x}+{size:#x} "
                      f"has no matching {kind.name} entry", at)


def _check_table(h: dict[str, Any], entries: tuple[PmtEntry, ...]) -> None:
    seen: set[tuple[EntryType, int]] = set()
    for i, e in enumerate(entries):
        if e.type in OBJECT_TYPES:
            key = (e.type, e.cpu if e.type == EntryType.CRASH_NOTES else 0)
            if key in seen:
                raise _reject(RejectReason.METADATA_MISMATCH, f"a second {e.type.name} entry"
                              + (f" for cpu {e.cpu}" if e.type == EntryType.CRASH_NOTES else ""), i)
            seen.add(key)
    _check_pointer("vmcoreinfo", EntryType.VMCOREINFO, h["vmcoreinfo_addr"],
                   h["vmcoreinfo_size"], entries)
    _check_pointer("cpu_state", EntryType.CPU_STATE, h["cpu_state_addr"],
                   h["cpu_state_size"], entries)
    if h["cpu_state_size"] and h["cpu_state_size"] < h["cpu_count"] * h["cpu_record_size"]:
        raise _reject(RejectReason.BAD_SIZES, f"cpu_state_size {h['cpu_state_size']:#x} cannot "
                      f"hold {h['cpu_count']} records of {h['cpu_record_size']} bytes",
                      next(i for i, e in enumerate(entries) if e.type == EntryType.CPU_STATE))

    table = next((i for i, e in enumerate(entries) if e.type == EntryType.TABLE), None)
    t_base, t_last = h["table_addr"], h["table_addr"] + h["total_size"] - 1
    if table is None:
        raise _reject(RejectReason.TABLE_OUTSIDE_ENTRY, "there is no TABLE entry")
    if not (t_last < U64_LIMIT and entries[table].base <= t_base
            and t_last <= entries[table].last):
        raise _reject(RejectReason.TABLE_OUTSIDE_ENTRY, f"table {t_base:#x}+"
                      f"{h['total_size']:#x} is not inside its TABLE entry "
                      f"{entries[table].base:#x}+{entries[table].size:#x}", table)

    for j, b in enumerate(entries):
        for i in range(j):
            a = entries[i]
            same_class = ((a.type in MEMORY_TYPES and b.type in MEMORY_TYPES)
                          or (a.type in OBJECT_TYPES and b.type in OBJECT_TYPES))
            if same_class and _overlaps(a.base, a.last, b.base, b.last):
                raise _reject(RejectReason.OVERLAP, f"{b.type.name} {b.base:#x}+{b.size:#x} "
                              f"overlaps entry {i} ({a.type.name} {a.base:#x}+{a.size:#x})", j)

    for j, b in enumerate(entries):
        if b.type != EntryType.BOOT_COPY:
            continue
        d_base, d_last = b.dest, b.dest + b.size - 1
        for i, a in enumerate(entries):
            hit = a.type in MEMORY_TYPES and _overlaps(d_base, d_last, a.base, a.last)
            if a.type == EntryType.BOOT_COPY and i != j:
                hit = hit or _overlaps(d_base, d_last, a.dest, a.dest + a.size - 1)
            if hit:
                raise _reject(RejectReason.COPY_DEST_CONFLICT, f"BOOT_COPY dest {b.dest:#x}+"
                              f"{b.size:#x} overlaps entry {i} ({a.type.name})", j)

    for j, b in enumerate(entries):
        if b.type not in OBJECT_TYPES:
            continue
        holders = ({EntryType.PRESERVE} if b.type in (EntryType.TABLE, EntryType.CPU_STATE)
                   else MEMORY_TYPES)
        if not any(a.type in holders and a.base <= b.base and b.last <= a.last
                   for a in entries):
            reason = (RejectReason.CPU_STATE_FORBIDDEN if b.type == EntryType.CPU_STATE
                      else RejectReason.METADATA_OUTSIDE_PRESERVED)
            where = " or BOOT_COPY source" if holders is MEMORY_TYPES else ""
            raise _reject(reason, f"{b.type.name} {b.base:#x}+{b.size:#x} is not inside "
                          f"one PRESERVE{where} entry", j)


def decode(data: bytes | bytearray | memoryview, limits: PmtLimits = DEFAULT_LIMITS) -> Pmt:
    """Check a table's bytes against every v1 rule and return its model.

    Raises PmtError (with .reason and .entry) for the first rule broken, in
    the order docs/pmt.md gives, which is the C validator's order too.
    """
    buf = bytes(data)
    h = _check_header(buf, limits)
    hs, es = h["header_size"], h["entry_size"]
    raw = [ENTRY.unpack(buf, hs + i * es) for i in range(h["entry_count"])]
    for i, e in enumerate(raw):
        _check_entry(i, e, h["cpu_count"], limits)
    entries = tuple(
        PmtEntry(extra=buf[hs + i * es + ENTRY_SIZE:hs + (i + 1) * es], **e)
        for i, e in enumerate(raw))
    _check_table(h, entries)
    end_of_entries = hs + h["entry_count"] * es
    return Pmt(entries=entries, header_extra=buf[HEADER_SIZE:hs],
               trailer=buf[end_of_entries:h["total_size"]],
               **{name: h[name] for name in _PMT_INTS})


def validate(table: Pmt | bytes | bytearray | memoryview,
             limits: PmtLimits = DEFAULT_LIMITS) -> Pmt:
    """Check a table (model or bytes) against every rule; return the model
    as decoded from its bytes, or raise PmtError naming the first rule broken."""
    return decode(encode(table) if isinstance(table, Pmt) else table, limits)


# --- CPU register records ------------------------------------------------

@dataclass(frozen=True)
class CpuRecord:
    """One CPU's saved registers. gregs are in elf_gregset_t order for the
    table's e_machine (X86_64_GREGS / AARCH64_GREGS); len(gregs) is nregs."""
    cpu_id: int
    flags: CpuRecordFlags = CpuRecordFlags(0)
    gregs: tuple[int, ...] = ()
    sysregs: tuple[int, ...] = ()
    timestamp: int = 0
    version: int = CPU_RECORD_VERSION

    def __post_init__(self) -> None:
        object.__setattr__(self, "gregs", tuple(self.gregs))
        object.__setattr__(self, "sysregs", tuple(self.sysregs))
        object.__setattr__(self, "flags", CpuRecordFlags(self.flags))
        if len(self.gregs) > MAX_GREGS or len(self.sysregs) > MAX_SYSREGS:
            raise PmtError(f"a CPU record holds at most {MAX_GREGS} gregs and "
                           f"{MAX_SYSREGS} sysregs")
        if not all(isinstance(r, int) and 0 <= r < U64_LIMIT
                   for r in self.gregs + self.sysregs):
            raise PmtError("CPU registers must be unsigned 64-bit integers")
        _check_fits(CPU_RECORD, self, ("cpu_id", "flags", "timestamp", "version"))

    @property
    def valid(self) -> bool:
        return bool(self.flags & CpuRecordFlags.VALID)

    def pr_reg(self, e_machine: int) -> bytes:
        """The elf_gregset_t bytes for NT_PRSTATUS pr_reg (missing registers 0)."""
        names = GREGS_BY_MACHINE.get(e_machine)
        if names is None:
            raise PmtError(f"no register layout for e_machine {e_machine}")
        if len(self.gregs) > len(names):
            raise PmtError(f"{len(self.gregs)} registers, but {MACHINE_NAMES[e_machine]} "
                           f"has {len(names)}")
        regs = self.gregs + (0,) * (len(names) - len(self.gregs))
        return struct.pack(f"<{len(names)}Q", *regs)

    def named_gregs(self, e_machine: int) -> dict[str, int]:
        return dict(zip(GREGS_BY_MACHINE.get(e_machine, ()), self.gregs))

    def named_sysregs(self, e_machine: int) -> dict[str, int]:
        return dict(zip(SYSREGS_BY_MACHINE.get(e_machine, ()), self.sysregs))


def encode_cpu_record(record: CpuRecord, record_size: int = CPU_RECORD_SIZE) -> bytes:
    """One record slot of record_size bytes (the tail past v1 is zero)."""
    if record_size < CPU_RECORD_SIZE or record_size % SIZE_GRANULE:
        raise PmtError(f"cpu record size {record_size} is not a multiple of "
                       f"{SIZE_GRANULE} of at least {CPU_RECORD_SIZE}")
    body = CPU_RECORD.pack(dict(
        magic=CPU_RECORD_MAGIC, version=record.version, flags=record.flags,
        nregs=len(record.gregs), nsysregs=len(record.sysregs), cpu_id=record.cpu_id,
        timestamp=record.timestamp, gregs=record.gregs, sysregs=record.sysregs))
    return body + bytes(record_size - CPU_RECORD_SIZE)


def encode_cpu_records(records: Sequence[CpuRecord],
                       record_size: int = CPU_RECORD_SIZE) -> bytes:
    """A CPU_STATE area: the OS pre-fills one slot per possible CPU (magic,
    version, cpu_id) so the SMM handler finds its slot by cpu_id."""
    return b"".join(encode_cpu_record(r, record_size) for r in records)


def decode_cpu_record(data: bytes, e_machine: int | None = None) -> CpuRecord:
    """Decode one record slot; e_machine, when given, bounds nregs."""
    if len(data) < CPU_RECORD_SIZE:
        raise PmtError(f"a CPU record needs {CPU_RECORD_SIZE} bytes, got {len(data)}")
    r = CPU_RECORD.unpack(bytes(data[:CPU_RECORD_SIZE]))
    if r["magic"] != CPU_RECORD_MAGIC:
        raise PmtError(f"CPU record magic {r['magic']:#010x} is not {CPU_RECORD_MAGIC:#010x}")
    if r["version"] != CPU_RECORD_VERSION:
        raise PmtError(f"CPU record version {r['version']}; this reader knows "
                       f"{CPU_RECORD_VERSION}")
    max_regs = len(GREGS_BY_MACHINE.get(e_machine, ())) or MAX_GREGS
    if r["nregs"] > max_regs or r["nsysregs"] > MAX_SYSREGS:
        raise PmtError(f"CPU record claims {r['nregs']} gregs and {r['nsysregs']} sysregs; "
                       f"at most {max_regs} and {MAX_SYSREGS} fit")
    return CpuRecord(cpu_id=r["cpu_id"], flags=CpuRecordFlags(r["flags"]),
                     gregs=r["gregs"][:r["nregs"]], sysregs=r["sysregs"][:r["nsysregs"]],
                     timestamp=r["timestamp"], version=r["version"])


def decode_cpu_records(data: bytes, count: int, record_size: int = CPU_RECORD_SIZE,
                       e_machine: int | None = None) -> tuple[CpuRecord, ...]:
    """The `count` records of a CPU_STATE area (pass the table's cpu_count,
    cpu_record_size and e_machine). Slots without VALID are still returned;
    callers use only records whose .valid is true."""
    if record_size < CPU_RECORD_SIZE or record_size % SIZE_GRANULE:
        raise PmtError(f"cpu record size {record_size} is not a multiple of "
                       f"{SIZE_GRANULE} of at least {CPU_RECORD_SIZE}")
    if count < 0 or len(data) < count * record_size:
        raise PmtError(f"{len(data)} bytes cannot hold {count} CPU records of "
                       f"{record_size} bytes")
    return tuple(decode_cpu_record(data[i * record_size:(i + 1) * record_size], e_machine)
                 for i in range(count))


# --- JSON ----------------------------------------------------------------

def _json_int(value: object, what: str) -> int:
    if isinstance(value, bool):
        raise PmtError(f"{what}: expected an integer, got {value!r}")
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        try:
            return int(value, 0)
        except ValueError:
            pass
    raise PmtError(f"{what}: expected an integer or \"0x...\" string, got {value!r}")


def _json_enum(value: object, enum_type: type[enum.IntEnum], what: str) -> int:
    if isinstance(value, str) and value in enum_type.__members__:
        return enum_type[value]
    return _json_int(value, what)


def _json_flags(value: object, flag_type: type[enum.IntFlag], what: str) -> int:
    if isinstance(value, list):
        bits = 0
        for name in value:
            if isinstance(name, str) and name in flag_type.__members__:
                bits |= flag_type[name]
            elif isinstance(name, int) and not isinstance(name, bool):
                bits |= name  # bits without a name, as to_dict() writes them
            else:
                raise PmtError(f"{what}: unknown flag {name!r}; known: "
                               f"{', '.join(flag_type.__members__)}")
        return bits
    return _json_int(value, what)


def _json_bytes(value: object, what: str) -> bytes:
    if isinstance(value, str):
        try:
            return bytes.fromhex(value)
        except ValueError:
            pass
    raise PmtError(f"{what}: expected a hex string, got {value!r}")


def enum_name(value: int, enum_type: type[enum.IntEnum]) -> str | int:
    return enum_type(value).name if value in enum_type.__members__.values() else value


def flag_names(value: int, flag_type: type[enum.IntFlag]) -> list[str | int]:
    names: list[str | int] = [f.name for f in flag_type if f.value & value and f.name]
    unknown = value & ~sum(f.value for f in flag_type)
    return names + ([unknown] if unknown else [])


def to_dict(pmt: Pmt) -> dict[str, Any]:
    """A JSON-ready view: addresses as hex strings, enums and flags by name."""
    out: dict[str, Any] = {}
    for name in _PMT_INTS:
        value = getattr(pmt, name)
        if name == "flags":
            out[name] = flag_names(value, PmtFlags)
        elif name == "reject_reason":
            out[name] = enum_name(value, RejectReason)
        elif name == "reset_cause":
            out[name] = enum_name(value, ResetCause)
        elif name == "e_machine":
            out[name] = MACHINE_NAMES.get(value, value)
        elif HEADER.field(name).kind == "u64":
            out[name] = f"{value:#x}"
        else:
            out[name] = value
    out["entries"] = [
        {"type": enum_name(e.type, EntryType), "base": f"{e.base:#x}",
         "size": f"{e.size:#x}", "dest": f"{e.dest:#x}", "cpu": e.cpu,
         "fw_status": enum_name(e.fw_status, EntryStatus),
         **({"extra": e.extra.hex()} if e.extra else {})}
        for e in pmt.entries]
    if pmt.header_extra:
        out["header_extra"] = pmt.header_extra.hex()
    if pmt.trailer:
        out["trailer"] = pmt.trailer.hex()
    return out


_ENTRY_KEYS = {"type", "base", "size", "dest", "cpu", "fw_status", "extra"}


def _entry_from_dict(i: int, obj: object) -> PmtEntry:
    what = f"entries[{i}]"
    if not isinstance(obj, dict):
        raise PmtError(f"{what}: expected an object")
    unknown = set(obj) - _ENTRY_KEYS
    if unknown:
        raise PmtError(f"{what}: unknown keys {sorted(unknown)}")
    for key in ("type", "base", "size"):
        if key not in obj:
            raise PmtError(f"{what}: missing {key!r}")
    return PmtEntry(
        type=_json_enum(obj["type"], EntryType, f"{what}.type"),
        base=_json_int(obj["base"], f"{what}.base"),
        size=_json_int(obj["size"], f"{what}.size"),
        dest=_json_int(obj.get("dest", 0), f"{what}.dest"),
        cpu=_json_int(obj.get("cpu", 0), f"{what}.cpu"),
        fw_status=_json_enum(obj.get("fw_status", 0), EntryStatus, f"{what}.fw_status"),
        extra=_json_bytes(obj.get("extra", ""), f"{what}.extra"))


def from_dict(obj: object) -> Pmt:
    """The inverse of to_dict(); numbers may be ints or "0x..." strings."""
    if not isinstance(obj, dict):
        raise PmtError("a PMT description must be a JSON object")
    known = set(_PMT_INTS) | {"entries", "header_extra", "trailer"}
    unknown = set(obj) - known
    if unknown:
        raise PmtError(f"unknown keys {sorted(unknown)}")
    for key in ("e_machine", "cpu_count", "table_addr", "entries"):
        if key not in obj:
            raise PmtError(f"missing {key!r}")
    if not isinstance(obj["entries"], list):
        raise PmtError("entries must be a list")
    fields: dict[str, Any] = {}
    machines = {name: em for em, name in MACHINE_NAMES.items()}
    for name in _PMT_INTS:
        if name not in obj:
            continue
        value = obj[name]
        if name == "flags":
            fields[name] = _json_flags(value, PmtFlags, name)
        elif name == "reject_reason":
            fields[name] = _json_enum(value, RejectReason, name)
        elif name == "reset_cause":
            fields[name] = _json_enum(value, ResetCause, name)
        elif name == "e_machine" and isinstance(value, str) and value in machines:
            fields[name] = machines[value]
        else:
            fields[name] = _json_int(value, name)
    return Pmt(entries=tuple(_entry_from_dict(i, e) for i, e in enumerate(obj["entries"])),
               header_extra=_json_bytes(obj.get("header_extra", ""), "header_extra"),
               trailer=_json_bytes(obj.get("trailer", ""), "trailer"),
               **fields)

