"""The PMT wire format, v1: constants, enums, the error type and the one
Layout definition of each structure (header, entry, CPU record).

docs/pmt.md is the normative spec; its field tables and payloads/libpmt/pmt.h
are generated from the definitions here (see warmboot.handoff.cgen), so the
wire format is written down exactly once.
"""

from __future__ import annotations

import enum
import itertools
import struct
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import Any

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
    "r15",
    "r14",
    "r13",
    "r12",
    "rbp",
    "rbx",
    "r11",
    "r10",
    "r9",
    "r8",
    "rax",
    "rcx",
    "rdx",
    "rsi",
    "rdi",
    "orig_rax",
    "rip",
    "cs",
    "eflags",
    "rsp",
    "ss",
    "fs_base",
    "gs_base",
    "ds",
    "es",
    "fs",
    "gs",
)
AARCH64_GREGS = (*(f"x{n}" for n in range(31)), "sp", "pc", "pstate")
X86_64_SYSREGS = ("cr0", "cr2", "cr3", "cr4", "efer", "kernel_gs_base", "dr6", "dr7")
AARCH64_SYSREGS = (
    "esr_el1",
    "far_el1",
    "elr_el1",
    "spsr_el1",
    "sctlr_el1",
    "ttbr0_el1",
    "ttbr1_el1",
    "tcr_el1",
)
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

    def __init__(
        self, message: str, reason: RejectReason | None = None, entry: int | None = None
    ) -> None:
        super().__init__(message)
        self.reason = reason
        self.entry = entry


class EntryType(enum.IntEnum):
    """What an entry describes."""

    PRESERVE = 1  # memory firmware must leave intact and never allocate
    BOOT_COPY = 2  # memory firmware reuses; it copies base -> dest first
    CPU_STATE = 3  # the CPU register save area (cpu_count records)
    VMCOREINFO = 4  # the VMCOREINFO ELF note
    CRASH_NOTES = 5  # one CPU's crash notes buffer (entry.cpu says which)
    TABLE = 6  # the pages holding this table


# Entries that carry memory to keep; they may not overlap one another.
MEMORY_TYPES = frozenset({EntryType.PRESERVE, EntryType.BOOT_COPY})
# Entries that point at objects inside preserved memory.
OBJECT_TYPES = frozenset(
    {EntryType.CPU_STATE, EntryType.VMCOREINFO, EntryType.CRASH_NOTES, EntryType.TABLE}
)
NOTE_TYPES = frozenset({EntryType.VMCOREINFO, EntryType.CRASH_NOTES})


class EntryStatus(enum.IntEnum):
    """What firmware did with an entry (firmware-owned entry.fw_status)."""

    NONE = 0  # not looked at yet (the OS writes this)
    PRESERVED = 1  # kept in place and reserved
    COPIED = 2  # BOOT_COPY: base copied to dest, dest reserved
    SKIPPED = 3  # the table was rejected; nothing was done
    FAILED = 4  # firmware tried and could not (e.g. copy error)


class PmtFlags(enum.IntFlag, boundary=enum.KEEP):
    """Header flags: bits 0-15 belong to the OS, bits 16-31 to firmware."""

    ARMED = 1 << 0  # OS: capture this table on the next warm reset
    IN_SERVICE = 1 << 1  # OS: it saves its own dump from /proc/vmcore (payload: boot it at once)
    WARM_RESET_SEEN = 1 << 16  # firmware found the table after a warm reset
    WDT_FIRED = 1 << 17  # the SMM watchdog handler saved CPU state
    COPY_DONE = 1 << 18  # every BOOT_COPY has been copied
    REJECTED = 1 << 19  # firmware refused the table; see reject_reason


OS_FLAGS_MASK = 0x0000FFFF
FW_FLAGS_MASK = 0xFFFF0000


class CookieKind(enum.IntEnum):
    """Where the OS hands firmware the arm cookie (docs/handoff.md)."""

    NONE = 0  # firmware did not say (a layout 1 record)
    CMOS = 1  # cookie_size bytes of CMOS RAM from offset cookie_addr, set when arming
    MAILBOX = 2  # the reset mailbox at cookie_addr: {MAILBOX_MAGIC, cookie}, set on panic


# The reset mailbox's first u64: ASCII "WBRESET!", little-endian.
MAILBOX_MAGIC = 0x2154455345524257
MAILBOX_SIZE = 16
# The arm cookie in CMOS: one little-endian u64.
CMOS_COOKIE_SIZE = 8
# Memory below this is firmware's when firmware does not say (a layout 1
# record, a device tree): the first MiB, which PC firmware reuses on every
# boot (real-mode area, EBDA, option ROMs, ASEG).
DEFAULT_FIRMWARE_LOW_END = 1 << 20


class ResetCause(enum.IntEnum):
    """Why firmware ran with an armed table (firmware-owned reset_cause)."""

    UNKNOWN = 0  # not recorded (the OS writes this)
    WARM_RESET = 1  # a warm reset the platform reported as such (OS reboot, CF9)
    WATCHDOG = 2  # the SMM watchdog handler reset the machine
    OTHER = 3  # a warm reset from another source (reset button, TCO)


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


# How firmware's console says each reject reason (pmt_names.h: PMT_REJECT_TEXTS).
REJECT_REASON_TEXT: Mapping[RejectReason, str] = {
    RejectReason.NONE: "none",
    RejectReason.BAD_MAGIC: "bad magic",
    RejectReason.BAD_VERSION: "bad version",
    RejectReason.BAD_SIZES: "bad sizes",
    RejectReason.COUNT_OVERFLOW: "count overflow",
    RejectReason.BAD_CRC: "bad CRC",
    RejectReason.TOO_MANY_ENTRIES: "too many entries",
    RejectReason.STALE: "stale (cookie mismatch)",
    RejectReason.BAD_MACHINE: "bad machine",
    RejectReason.BAD_CPU_COUNT: "bad cpu count",
    RejectReason.BAD_ENTRY: "bad entry",
    RejectReason.ZERO_SIZE: "zero size",
    RejectReason.WRAP: "wrap-around",
    RejectReason.UNALIGNED: "unaligned",
    RejectReason.PRESERVE_IN_FIRMWARE: "preserve region in firmware memory",
    RejectReason.DEST_IN_FIRMWARE: "destination in firmware memory",
    RejectReason.CPU_STATE_FORBIDDEN: "CPU_STATE in forbidden memory",
    RejectReason.METADATA_MISMATCH: "metadata mismatch",
    RejectReason.TABLE_OUTSIDE_ENTRY: "table outside its TABLE entry",
    RejectReason.OVERLAP: "overlapping entries",
    RejectReason.COPY_DEST_CONFLICT: "copy destination conflict",
    RejectReason.METADATA_OUTSIDE_PRESERVED: "metadata outside preserved memory",
}


class CpuRecordFlags(enum.IntFlag, boundary=enum.KEEP):
    """CPU record flags (firmware or the OS panic path writes them)."""

    VALID = 1 << 0  # registers are complete; written last
    FROM_SMM = 1 << 1  # saved by the SMM watchdog handler
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
        for (_, end), (start, _) in itertools.pairwise(spans):
            if end != start:
                raise AssertionError(f"{self.name}: firmware-owned bytes are not contiguous")
        return (spans[0][0], spans[-1][1])


FW = Owner.FIRMWARE

HEADER = Layout(
    "header",
    "pmt_header_v1",
    "PMT_HEADER",
    (
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
    ),
)

ENTRY = Layout(
    "entry",
    "pmt_entry_v1",
    "PMT_ENTRY",
    (
        Field("base", "u64", "physical start"),
        Field("size", "u64", "bytes"),
        Field("dest", "u64", "BOOT_COPY: where firmware copies base to; else 0"),
        Field("type", "u16", "EntryType (PMT_ENTRY_*)"),
        Field("fw_status", "u16", "EntryStatus (PMT_STATUS_*)", owner=FW),
        Field("cpu", "u32", "CRASH_NOTES: Linux CPU number; else 0"),
    ),
)

CPU_RECORD = Layout(
    "cpu record",
    "pmt_cpu_record_v1",
    "PMT_CPU_RECORD",
    (
        Field("magic", "u32", 'ASCII "PCPU" (0x55504350); the OS pre-fills it'),
        Field("version", "u16", "1; the OS pre-fills it"),
        Field("reserved0", "u16", "0"),
        Field("flags", "u32", "CpuRecordFlags (PMT_CPU_*); VALID last", owner=FW),
        Field("nregs", "u16", "valid gregs (27 x86_64, 34 aarch64)", owner=FW),
        Field("nsysregs", "u16", "valid entries in sysregs", owner=FW),
        Field("cpu_id", "u64", "APIC id (x86) or MPIDR (arm64); the OS pre-fills it"),
        Field("timestamp", "u64", "TSC or CNTVCT when the registers were saved", owner=FW),
        Field("gregs", "u64", "general registers, elf_gregset_t order", owner=FW, count=MAX_GREGS),
        Field(
            "sysregs",
            "u64",
            "system registers, see the register table",
            owner=FW,
            count=MAX_SYSREGS,
        ),
        Field("reserved1", "u64", "0", count=2),
    ),
    under_crc=False,
)

HEADER_SIZE = HEADER.size
ENTRY_SIZE = ENTRY.size
CPU_RECORD_SIZE = CPU_RECORD.size
LAYOUTS = (HEADER, ENTRY, CPU_RECORD)
