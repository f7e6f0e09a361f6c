"""From a preserved-memory table (PMT) to a vmcore plan.

After the warm reset, physical memory holds the crashed kernel's preserved
regions in place, except BOOT_COPY regions: firmware reused their original
range and left their bytes at `dest`. CrashedMemory presents memory as the
crashed kernel saw it, so every reader (VMCOREINFO, crash notes, CPU_STATE,
region contents) uses the kernel's own physical addresses.
"""

from __future__ import annotations

from dataclasses import dataclass

from .. import pmt as pmtlib
from ..handoff.physmem import PhysicalMemory, PhysicalMemoryError
from ..pmt import CpuRecord, EntryStatus, EntryType, Pmt, PmtError, PmtFlags, RejectReason
from .elfcore import (
    CORE_NOTE_NAME,
    NHDR,
    NT_PRSTATUS,
    ElfCoreError,
    decode_prstatus,
    machine_layout,
)
from .vmcoreinfo import (
    VmcoreinfoError,
    direct_map,
    page_size,
    parse_vmcoreinfo,
    vmcoreinfo_from_note,
)
from .writer import CpuNote, LoadSegment, VmcoreError, VmcorePlan, check_segments

# Entries whose bytes firmware says are not the crashed kernel's.
UNUSABLE_STATUS = frozenset({EntryStatus.SKIPPED, EntryStatus.FAILED})


class CrashedMemory:
    """PhysicalMemory at the crashed kernel's addresses: reads inside a
    BOOT_COPY's original range come from its destination."""

    def __init__(self, table: Pmt, memory: PhysicalMemory) -> None:
        self.memory = memory
        self.copies = tuple(
            sorted((e.base, e.size, e.dest) for e in table.entries if e.type == EntryType.BOOT_COPY)
        )

    def source_of(self, addr: int) -> tuple[int, int]:
        """(where addr's byte is now, how many bytes from there are contiguous)."""
        for base, size, dest in self.copies:
            if base <= addr < base + size:
                return dest + (addr - base), base + size - addr
            if addr < base:
                return addr, base - addr
        return addr, (1 << 64) - addr

    def read(self, addr: int, size: int) -> bytes:
        parts = []
        while size:
            source, run = self.source_of(addr)
            take = min(size, run)
            parts.append(self.memory.read(source, take))
            addr += take
            size -= take
        return b"".join(parts)


@dataclass(frozen=True)
class Capture:
    """What to write, and what could not be included (one line each)."""

    plan: VmcorePlan
    warnings: tuple[str, ...]


def crash_note_cpu(note_buf: bytes, e_machine: int) -> CpuNote | None:
    """The NT_PRSTATUS a kernel's crash_save_cpu() left in one CPU's crash
    notes buffer, or None when the buffer holds none (the CPU never saved)."""
    layout = machine_layout(e_machine)
    offset = 0
    while offset + NHDR.size <= len(note_buf):
        namesz, descsz, note_type = NHDR.unpack_from(note_buf, offset)
        if namesz == 0:
            return None  # final_note(): the end of the buffer's notes
        name_at = offset + NHDR.size
        desc_at = name_at + ((namesz + 3) & ~3)
        name = note_buf[name_at : name_at + namesz].rstrip(b"\0")
        desc = note_buf[desc_at : desc_at + descsz]
        if len(desc) < descsz:
            return None
        if name == CORE_NOTE_NAME and note_type == NT_PRSTATUS:
            pid, regs = decode_prstatus(layout, desc)
            cursig = int.from_bytes(desc[12:14], "little", signed=True)
            return CpuNote(pid, regs, cursig)
        offset = desc_at + ((descsz + 3) & ~3)
    return None


def record_cpu(record: CpuRecord, index: int, e_machine: int) -> CpuNote:
    """NT_PRSTATUS content from a CPU_STATE record: its general registers;
    pr_pid is the Linux CPU number + 1 (the record has no task, and gdb
    needs each CPU's pid to differ)."""
    nregs = len(machine_layout(e_machine).gregs)
    return CpuNote(index + 1, record.gregs + (0,) * (nregs - len(record.gregs)))


def check_processed(table: Pmt) -> None:
    """The payload's rule (docs/pmt.md, state machine): capture only a table
    that is ARMED, that firmware processed (COPY_DONE) and did not reject."""
    if table.flags & PmtFlags.REJECTED:
        reason = (
            RejectReason(table.reject_reason).name
            if table.reject_reason in RejectReason.__members__.values()
            else table.reject_reason
        )
        raise VmcoreError(f"firmware rejected this PMT ({reason}); nothing was preserved")
    if not table.flags & PmtFlags.ARMED:
        raise VmcoreError("this PMT is not armed (already captured, or never armed)")
    if not table.flags & PmtFlags.COPY_DONE:
        raise VmcoreError(
            "firmware has not processed this PMT (no COPY_DONE): "
            "its regions were not kept on this boot"
        )


def plan_capture(
    table: Pmt, memory: PhysicalMemory, *, page_offset: int | None = None, force: bool = False
) -> Capture:
    """Plan the vmcore for a PMT firmware processed, reading its VMCOREINFO,
    crash notes and CPU records from `memory` (the machine after the reset).

    CPU i's registers come from its CRASH_NOTES buffer when the kernel's
    panic path filled it (what kdump would report), else from CPU_STATE
    slot i when VALID; CPUs with neither get no note, as in /proc/vmcore.
    `force` skips check_processed(), for looking at tables by hand.
    """
    if not force:
        check_processed(table)
    view = CrashedMemory(table, memory)
    warnings: list[str] = []
    layout = machine_layout(table.e_machine)

    text = b""
    if table.vmcoreinfo_size:
        try:
            text = vmcoreinfo_from_note(view.read(table.vmcoreinfo_addr, table.vmcoreinfo_size))
        except (PhysicalMemoryError, VmcoreinfoError) as exc:
            warnings.append(f"VMCOREINFO unusable: {exc}")
    else:
        warnings.append("the PMT has no VMCOREINFO; makedumpfile and crash need it")
    info = parse_vmcoreinfo(text)
    vaddr_of = direct_map(table.e_machine, info, page_offset)

    notes: dict[int, CpuNote] = {}
    for entry in table.entries_of(EntryType.CRASH_NOTES):
        try:
            note = crash_note_cpu(view.read(entry.base, entry.size), table.e_machine)
        except (PhysicalMemoryError, ElfCoreError) as exc:
            warnings.append(f"crash notes of cpu {entry.cpu} unusable: {exc}")
            continue
        if note:
            notes[entry.cpu] = note

    records: dict[int, CpuRecord] = {}
    if table.cpu_state_size:
        size = table.cpu_record_size
        try:
            area = view.read(table.cpu_state_addr, table.cpu_count * size)
        except PhysicalMemoryError as exc:
            warnings.append(f"CPU_STATE unreadable: {exc}")
            area = b""
        for index in range(len(area) // size):
            try:
                record = pmtlib.decode_cpu_record(
                    area[index * size : (index + 1) * size], table.e_machine
                )
            except PmtError as exc:
                warnings.append(f"CPU_STATE slot {index}: {exc}")
                continue
            if record.valid:
                records[index] = record

    cpus = []
    for index in range(table.cpu_count):
        if index in notes:
            cpus.append(notes[index])
        elif index in records:
            cpus.append(record_cpu(records[index], index, table.e_machine))
        else:
            warnings.append(f"cpu {index}: no saved registers")

    segments = []
    for entry in table.entries:
        if entry.type not in pmtlib.MEMORY_TYPES:
            continue
        if entry.fw_status in UNUSABLE_STATUS:
            warnings.append(
                f"{entry.type.name} {entry.base:#x}+{entry.size:#x} left out: "
                f"firmware status {EntryStatus(entry.fw_status).name}"
            )
            continue
        source = entry.dest if entry.type == EntryType.BOOT_COPY else entry.base
        segments.append(LoadSegment(entry.base, vaddr_of(entry.base), entry.size, source))

    plan = VmcorePlan(
        layout.e_machine, tuple(cpus), text, check_segments(segments), page_size(info)
    )
    return Capture(plan, tuple(warnings))
