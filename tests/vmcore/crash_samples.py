"""A synthetic crashed machine: memory after a warm reset, and its PMT.

The crashed kernel registered a PMT with two PRESERVE regions and one
BOOT_COPY region; firmware then copied the BOOT_COPY source to its
destination, scribbled over the source (as firmware reusing low memory
does), and annotated the table. Everything a capture needs (VMCOREINFO,
crash notes, CPU records) sits where the PMT says, some of it inside the
BOOT_COPY source, so it is only found through the copy.
"""

from __future__ import annotations

import dataclasses
import random
from dataclasses import dataclass

from warmboot import pmt
from warmboot.handoff.physmem import MemoryImage
from warmboot.pmt import (
    CpuRecord,
    CpuRecordFlags,
    EntryStatus,
    EntryType,
    Pmt,
    PmtEntry,
    PmtFlags,
    ResetCause,
)
from warmboot.vmcore.elfcore import NHDR, machine_layout, prstatus_note, vmcoreinfo_note

MEMORY_SIZE = 4 << 20
BOOT_COPY_BASE, BOOT_COPY_SIZE, BOOT_COPY_DEST = 0x10000, 0x8000, 0x300000
P0_BASE, P0_SIZE = 0x100000, 0x10000
P1_BASE, P1_SIZE = 0x200000, 0x20000
TABLE_ADDR = P0_BASE
CPU_STATE_ADDR, CPU_STATE_SIZE = P0_BASE + 0x1000, 0x1000
VMCOREINFO_ADDR = P0_BASE + 0x2000
CRASH_NOTES_ADDR = BOOT_COPY_BASE + 0x4000  # inside the BOOT_COPY source
SCRIBBLE = 0xCC

SYNTHETIC_VMCOREINFO = (
    b"OSRELEASE=6.1.0-warmboot-test\n"
    b"BUILD-ID=0123456789abcdef0123456789abcdef01234567\n"
    b"PAGESIZE=4096\n"
    b"SYMBOL(init_uts_ns)=ffffffff82a1c300\n"
    b"OFFSET(uts_namespace.name)=0\n"
    b"SYMBOL(_stext)=ffffffff81000000\n"
    b"NUMBER(phys_base)=0\n"
    b"SYMBOL(init_top_pgt)=ffffffff82a0a000\n"
    b"NUMBER(pgtable_l5_enabled)=0\n"
    b"KERNELOFFSET=0\n"
    b"CRASHTIME=1700000000\n"
)

AARCH64_VMCOREINFO = (
    b"OSRELEASE=6.1.0-warmboot-test\n"
    b"PAGESIZE=4096\n"
    b"NUMBER(VA_BITS)=48\n"
    b"NUMBER(PHYS_OFFSET)=0x40000000\n"
    b"KERNELOFFSET=0\n"
)


@dataclass(frozen=True)
class CrashedMachine:
    table: Pmt
    memory: MemoryImage  # after the warm reset
    before: bytes  # all of memory as the crashed kernel left it
    vmcoreinfo: bytes
    cpu_regs: tuple[tuple[int, ...], ...]  # per Linux CPU, what the vmcore must show
    cpu_pids: tuple[int, ...]
    record_regs: tuple[tuple[int, ...], ...]  # what the CPU_STATE records hold

    def original(self, base: int, size: int) -> bytes:
        return self.before[base : base + size]


def registers(e_machine: int, cpu: int, source: str) -> tuple[int, ...]:
    """Distinct, recognizable register values; PC and SP look like kernel ones."""
    layout = machine_layout(e_machine)
    tag = {"record": 0x1000, "notes": 0x2000}[source]
    regs = [0x5A00_0000_0000_0000 | tag << 16 | cpu << 8 | i for i in range(len(layout.gregs))]
    regs[layout.pc_index] = 0xFFFF_FFFF_8100_0000 + tag + cpu * 0x10
    regs[layout.sp_index] = 0xFFFF_C900_0000_3F00 + tag + cpu * 0x100
    return tuple(regs)


def crash_notes_buffer(e_machine: int, regs: tuple[int, ...], pid: int) -> bytes:
    """One CPU's crash notes as crash_save_cpu() leaves them: NT_PRSTATUS, then
    final_note() (an all-zero note header)."""
    return prstatus_note(machine_layout(e_machine), regs, pid) + bytes(NHDR.size)


def build_crashed_machine(
    e_machine: int = pmt.EM_X86_64,
    vmcoreinfo: bytes | None = None,
    cpu_count: int = 3,
    seed: int = 1,
) -> CrashedMachine:
    """cpu 0: registers from its CPU_STATE record (the SMM watchdog saved it);
    cpu 1: the kernel's crash notes (which win over its record);
    cpu 2 (if any): nothing saved."""
    if vmcoreinfo is None:
        vmcoreinfo = SYNTHETIC_VMCOREINFO if e_machine == pmt.EM_X86_64 else AARCH64_VMCOREINFO
    rng = random.Random(seed)
    mem = bytearray(rng.randbytes(MEMORY_SIZE))

    note = vmcoreinfo_note(vmcoreinfo)
    note_size = -(-len(note) // 4) * 4
    notes_pid = 4242
    notes_regs = registers(e_machine, 1, "notes")
    notes_buf = crash_notes_buffer(e_machine, notes_regs, notes_pid)
    record_regs = tuple(registers(e_machine, cpu, "record") for cpu in range(cpu_count))
    records = [
        CpuRecord(
            cpu_id=cpu,
            gregs=record_regs[cpu],
            flags=(CpuRecordFlags.VALID | CpuRecordFlags.FROM_SMM) if cpu < 2 else 0,
        )
        for cpu in range(cpu_count)
    ]

    entries = (
        PmtEntry(EntryType.TABLE, TABLE_ADDR, 0x1000),
        PmtEntry(EntryType.CPU_STATE, CPU_STATE_ADDR, CPU_STATE_SIZE),
        PmtEntry(EntryType.VMCOREINFO, VMCOREINFO_ADDR, note_size),
        PmtEntry(EntryType.CRASH_NOTES, CRASH_NOTES_ADDR, len(notes_buf), cpu=1),
        PmtEntry(EntryType.PRESERVE, P0_BASE, P0_SIZE),
        PmtEntry(EntryType.PRESERVE, P1_BASE, P1_SIZE),
        PmtEntry(EntryType.BOOT_COPY, BOOT_COPY_BASE, BOOT_COPY_SIZE, dest=BOOT_COPY_DEST),
    )
    registered = pmt.validate(
        Pmt(
            e_machine=e_machine,
            cpu_count=cpu_count,
            table_addr=TABLE_ADDR,
            entries=entries,
            generation=7,
            flags=PmtFlags.ARMED,
            arm_cookie=0x1234,
            vmcoreinfo_addr=VMCOREINFO_ADDR,
            vmcoreinfo_size=note_size,
            cpu_state_addr=CPU_STATE_ADDR,
            cpu_state_size=CPU_STATE_SIZE,
        )
    )

    def put(addr: int, data: bytes) -> None:
        mem[addr : addr + len(data)] = data

    put(VMCOREINFO_ADDR, note.ljust(note_size, b"\0"))
    put(CRASH_NOTES_ADDR, notes_buf)
    put(CPU_STATE_ADDR, pmt.encode_cpu_records(records))
    put(TABLE_ADDR, pmt.encode(registered))
    before = bytes(mem)

    # Firmware on the warm reset: copy, reuse the source, annotate the table.
    put(BOOT_COPY_DEST, before[BOOT_COPY_BASE : BOOT_COPY_BASE + BOOT_COPY_SIZE])
    put(BOOT_COPY_BASE, bytes([SCRIBBLE]) * BOOT_COPY_SIZE)
    status = {EntryType.PRESERVE: EntryStatus.PRESERVED, EntryType.BOOT_COPY: EntryStatus.COPIED}
    processed = dataclasses.replace(
        registered,
        flags=registered.flags | PmtFlags.WARM_RESET_SEEN | PmtFlags.WDT_FIRED | PmtFlags.COPY_DONE,
        reset_cause=ResetCause.WATCHDOG,
        boot_count=1,
        entries=tuple(
            dataclasses.replace(e, fw_status=status.get(e.type, EntryStatus.PRESERVED))
            for e in registered.entries
        ),
    )
    put(TABLE_ADDR, pmt.encode(processed))

    cpu_regs = (record_regs[0], notes_regs)
    return CrashedMachine(
        processed,
        MemoryImage(bytes(mem)),
        before,
        vmcoreinfo,
        cpu_regs,
        (1, notes_pid),
        record_regs,
    )
