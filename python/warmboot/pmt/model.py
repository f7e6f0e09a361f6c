"""The PMT as Python objects: what tools and tests build tables from.

Pmt and PmtEntry hold a table (sizes and the CRC are derived when it is
encoded), CpuRecord one CPU's saved registers, and PmtLimits what a reader
accepts beyond the format itself.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable
from dataclasses import dataclass

from .spec import (
    CPU_RECORD,
    CPU_RECORD_SIZE,
    CPU_RECORD_VERSION,
    ENTRY,
    ENTRY_SIZE,
    GREGS_BY_MACHINE,
    HEADER,
    HEADER_SIZE,
    MACHINE_NAMES,
    MAJOR,
    MAX_GREGS,
    MAX_SYSREGS,
    MINOR,
    SIZE_GRANULE,
    SYSREGS_BY_MACHINE,
    U64_LIMIT,
    CpuRecordFlags,
    EntryStatus,
    EntryType,
    Layout,
    PmtError,
    PmtFlags,
    RejectReason,
    ResetCause,
)


def _check_fits(layout: Layout, obj: object, names: Iterable[str]) -> None:
    for name in names:
        value = getattr(obj, name)
        if not isinstance(value, int) or not layout.fits(name, value):
            raise PmtError(
                f"{layout.name} field {name}={value!r} does not fit its {layout.field(name).kind}"
            )


def _check_extra(what: str, extra: bytes) -> None:
    if not isinstance(extra, bytes) or len(extra) % SIZE_GRANULE:
        raise PmtError(f"{what} must be bytes whose length is a multiple of {SIZE_GRANULE}")


# The entry fields the model holds (all of them).
ENTRY_FIELDS = tuple(f.name for f in ENTRY.fields)


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
        _check_fits(ENTRY, self, ENTRY_FIELDS)
        _check_extra("entry extra", self.extra)
        if self.type in EntryType.__members__.values():
            object.__setattr__(self, "type", EntryType(self.type))

    @property
    def last(self) -> int:
        """The last byte's address (inclusive, so a region may end at 2**64)."""
        return self.base + self.size - 1


# Header fields the model holds; the rest are derived by encode().
_DERIVED = frozenset({"magic", "header_size", "entry_size", "entry_count", "total_size", "crc32"})
PMT_FIELDS = tuple(f.name for f in HEADER.fields if f.name not in _DERIVED)


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
        _check_fits(HEADER, self, PMT_FIELDS)
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
        object.__setattr__(
            self, "firmware_ranges", tuple((int(b), int(s)) for b, s in self.firmware_ranges)
        )
        for base, size in self.firmware_ranges:
            if base < 0 or size <= 0 or base + size > U64_LIMIT:
                raise PmtError(f"bad firmware range {base:#x}+{size:#x}")
        if not (
            0 <= self.max_entries < 1 << 32
            and 0 <= self.max_cpus < 1 << 32
            and 0 <= self.arm_cookie < U64_LIMIT
        ):
            raise PmtError("limits do not fit their fields")


DEFAULT_LIMITS = PmtLimits()


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
            raise PmtError(
                f"a CPU record holds at most {MAX_GREGS} gregs and {MAX_SYSREGS} sysregs"
            )
        if not all(isinstance(r, int) and 0 <= r < U64_LIMIT for r in self.gregs + self.sysregs):
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
            raise PmtError(
                f"{len(self.gregs)} registers, but {MACHINE_NAMES[e_machine]} has {len(names)}"
            )
        regs = self.gregs + (0,) * (len(names) - len(self.gregs))
        return struct.pack(f"<{len(names)}Q", *regs)

    def named_gregs(self, e_machine: int) -> dict[str, int]:
        return dict(zip(GREGS_BY_MACHINE.get(e_machine, ()), self.gregs, strict=False))

    def named_sysregs(self, e_machine: int) -> dict[str, int]:
        return dict(zip(SYSREGS_BY_MACHINE.get(e_machine, ()), self.sysregs, strict=False))
