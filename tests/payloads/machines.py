"""Fake machines for the payload tools, all in files.

A raw memory image (file offset = physical address) with coreboot's
forwarding table at 0x500 and the real table in "CBMEM" holding the
LB_TAG_WARMBOOT_PMT record, plus the /proc and /sys files, the kernel
command line and a 128-byte CMOS image that the tools read instead of the
live system's.

RunningOs is the production OS before a crash (for pmtctl); CrashedMachine
is memory after the warm reset, as firmware left it (for dumpcap).
"""

from __future__ import annotations

import dataclasses
import random
from dataclasses import dataclass
from pathlib import Path

from warmboot import pmt
from warmboot.handoff.cbtable import (
    ForwardRecord,
    LbMemType,
    MemoryRange,
    MemoryRecord,
    PmtRecord,
    encode_table,
)
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
from warmboot.pmt.spec import CMOS_COOKIE_SIZE, CookieKind
from warmboot.vmcore.elfcore import NHDR, machine_layout, prstatus_note, vmcoreinfo_note

MiB = 1 << 20
PAGE = 4096

FORWARD_TABLE = 0x500  # where coreboot leaves the LB_TAG_FORWARD stub
# The emulated x86 firmware's choices, which its coreboot record announces.
CMOS_COOKIE = 0x68  # the arm cookie's bytes in CMOS bank 0
FIRMWARE_LOW_END = MiB  # the first MiB is firmware's on every boot
# What its record says about them (PmtRecord's layout 2 fields).
X86_FIRMWARE = dict(
    cookie_addr=CMOS_COOKIE,
    cookie_kind=CookieKind.CMOS,
    cookie_size=CMOS_COOKIE_SIZE,
    firmware_low_end=FIRMWARE_LOW_END,
)

PROCESSED = PmtFlags.ARMED | PmtFlags.WARM_RESET_SEEN | PmtFlags.COPY_DONE


def write_at(path: Path, addr: int, data: bytes) -> None:
    with open(path, "r+b") as f:
        f.seek(addr)
        f.write(data)


def read_at(path: Path, addr: int, size: int) -> bytes:
    with open(path, "rb") as f:
        f.seek(addr)
        return f.read(size)


def plant_firmware(
    image: Path, record: PmtRecord, table_addr: int, memory: tuple[MemoryRange, ...] = ()
) -> None:
    """coreboot's tables: a forwarding stub at 0x500 and the real table."""
    records = ([MemoryRecord(memory)] if memory else []) + [record]
    write_at(image, FORWARD_TABLE, encode_table([ForwardRecord(table_addr)]))
    write_at(image, table_addr, encode_table(records))


def cmos_image(path: Path, cookie: int = 0) -> Path:
    data = bytearray(128)
    data[CMOS_COOKIE : CMOS_COOKIE + CMOS_COOKIE_SIZE] = cookie.to_bytes(CMOS_COOKIE_SIZE, "little")
    path.write_bytes(bytes(data))
    return path


def cmos_cookie(path: Path) -> int:
    return int.from_bytes(path.read_bytes()[CMOS_COOKIE : CMOS_COOKIE + CMOS_COOKIE_SIZE], "little")


# --- the production OS, for pmtctl ------------------------------------------

OS_IMAGE_SIZE = 256 * MiB
OS_ANCHOR, OS_ANCHOR_SIZE = 0x0F00_0000, 0x10000
OS_CBTABLE = 0x0F01_0000
BOOT_WINDOW = (0x10_0000, 4 * MiB)
CMA_BASE, CMA_SIZE = 0x0800_0000, 8 * MiB
VMCOREINFO = (0x0500_0000, 0x1018)
NOTES_SIZE = 424
CRASH_NOTES = {0: 0x0510_0000, 1: 0x0510_0400}
APIC_IDS = {0: 0, 1: 2}
CRASH_KERNEL = 0x0C00_0000

IOMEM = """\
00000000-00000fff : Reserved
00001000-0009ffff : System RAM
000a0000-000fffff : Reserved
  000f0000-000fffff : System ROM
00100000-0effffff : System RAM
  04000000-04bfffff : Kernel code
  04c00000-04dfffff : Kernel rodata
  04e00000-04f3ffff : Kernel data
  04f40000-04ffffff : Kernel bss
  0c000000-0c1fffff : Crash kernel
0f000000-0fffffff : Reserved
b0000000-bfffffff : PCI MMCONFIG 0000 [bus 00-ff]
fed1c000-fed1ffff : Reserved
  fed1f410-fed1f414 : iTCO_wdt.0.auto
"""


@dataclass(frozen=True)
class RunningOs:
    """The production OS as pmtctl sees it."""

    root: Path
    mem: Path
    iomem: Path
    sysfs: Path
    cmdline: Path
    cpuinfo: Path
    cmos: Path

    def args(self) -> list[str]:
        return [
            "--mem",
            str(self.mem),
            "--iomem",
            str(self.iomem),
            "--sysfs",
            str(self.sysfs),
            "--cmdline",
            str(self.cmdline),
            "--cpuinfo",
            str(self.cpuinfo),
            "--cmos",
            str(self.cmos),
        ]

    def anchor(self) -> bytes:
        return read_at(self.mem, OS_ANCHOR, OS_ANCHOR_SIZE)


def write_sysfs(
    sysfs: Path,
    vmcoreinfo: tuple[int, int],
    crash_notes: dict[int, int],
    notes_size: int,
    possible: str,
) -> None:
    """The files pmtctl reads, in the kernel's formats (%pa, %x, %llx, %zu)."""
    (sysfs / "kernel").mkdir(parents=True, exist_ok=True)
    (sysfs / "kernel" / "vmcoreinfo").write_text(f"{vmcoreinfo[0]:#018x} {vmcoreinfo[1]:x}\n")
    cpus = sysfs / "devices" / "system" / "cpu"
    cpus.mkdir(parents=True, exist_ok=True)
    (cpus / "possible").write_text(possible + "\n")
    for cpu, addr in crash_notes.items():
        (cpus / f"cpu{cpu}").mkdir(exist_ok=True)
        (cpus / f"cpu{cpu}" / "crash_notes").write_text(f"{addr:x}\n")
        (cpus / f"cpu{cpu}" / "crash_notes_size").write_text(f"{notes_size}\n")


def cpuinfo_text(apic_ids: dict[int, int]) -> str:
    return "".join(
        f"processor\t: {cpu}\nvendor_id\t: GenuineIntel\napicid\t\t: {apic}\n"
        f"initial apicid\t: {apic}\nflags\t\t: fpu vme\n\n"
        for cpu, apic in sorted(apic_ids.items())
    )


def running_os(
    root: Path,
    *,
    cmdline: str = "console=ttyS0 cma=8M@0x8000000 crashkernel=2M",
    iomem: str = IOMEM,
    boot_window: tuple[int, int] = BOOT_WINDOW,
    crash_notes: dict[int, int] | None = None,
) -> RunningOs:
    root.mkdir(parents=True, exist_ok=True)
    mem = root / "mem.img"
    with open(mem, "wb") as f:
        f.truncate(OS_IMAGE_SIZE)
    record = PmtRecord(
        anchor_addr=OS_ANCHOR,
        anchor_size=OS_ANCHOR_SIZE,
        boot_window_base=boot_window[0],
        boot_window_size=boot_window[1],
        **X86_FIRMWARE,
    )
    plant_firmware(mem, record, OS_CBTABLE)
    write_sysfs(
        root / "sys",
        VMCOREINFO,
        CRASH_NOTES if crash_notes is None else crash_notes,
        NOTES_SIZE,
        "0-1",
    )
    (root / "iomem").write_text(iomem)
    (root / "cmdline").write_text(cmdline + "\n")
    (root / "cpuinfo").write_text(cpuinfo_text(APIC_IDS))
    return RunningOs(
        root,
        mem,
        root / "iomem",
        root / "sys",
        root / "cmdline",
        root / "cpuinfo",
        cmos_image(root / "cmos"),
    )


# --- memory after the warm reset, for dumpcap --------------------------------

# Everything dumpcap reads before the regions lies below P1, the last region,
# so a memory image cut short inside P1 fails part-way through the copy.
CRASH_IMAGE_SIZE = 48 * MiB
COPY_BASE, COPY_SIZE, COPY_DEST = 0x10_0000, 2 * MiB, 0x00C0_0000
ANCHOR, ANCHOR_SIZE = 0x00F0_0000, 0x10000
CBTABLE = 0x00F1_0000
P0_BASE, P0_SIZE = 0x0100_0000, 8 * MiB
P1_BASE, P1_SIZE = 0x0200_0000, 16 * MiB
CPU_STATE = (ANCHOR + ANCHOR_SIZE // 2, ANCHOR_SIZE // 2)
VMCOREINFO_ADDR = P0_BASE + 0x1000
NOTES_ADDR = COPY_BASE + 0x2000  # in the BOOT_COPY source: found through dest
SCRIBBLE = 0xCC

SYNTHETIC_VMCOREINFO = {
    pmt.EM_X86_64: (
        b"OSRELEASE=6.1.0-warmboot-test\n"
        b"PAGESIZE=4096\n"
        b"SYMBOL(init_uts_ns)=ffffffff82a1c300\n"
        b"NUMBER(phys_base)=0\n"
        b"NUMBER(pgtable_l5_enabled)=0\n"
        b"KERNELOFFSET=0\n"
        b"CRASHTIME=1700000000\n"
    ),
    pmt.EM_AARCH64: (
        b"OSRELEASE=6.1.0-warmboot-test\n"
        b"PAGESIZE=4096\n"
        b"NUMBER(VA_BITS)=48\n"
        b"NUMBER(PHYS_OFFSET)=0x100000\n"
        b"KERNELOFFSET=0\n"
    ),
}


@dataclass(frozen=True)
class CrashedMachine:
    """Memory after the warm reset; what the vmcore must show."""

    mem: Path
    table: Pmt  # as firmware left it in the anchor
    regions: dict[int, bytes]  # paddr -> the crashed kernel's bytes
    cpu_regs: tuple[tuple[int, ...], ...]
    cpu_pids: tuple[int, ...]
    vmcoreinfo: bytes

    def args(self) -> list[str]:
        return ["--mem", str(self.mem)]


def registers(e_machine: int, cpu: int, tag: int) -> tuple[int, ...]:
    """Recognizable values; PC and SP look like kernel addresses."""
    layout = machine_layout(e_machine)
    regs = [0x5A00_0000_0000_0000 | tag << 16 | cpu << 8 | i for i in range(len(layout.gregs))]
    regs[layout.pc_index] = 0xFFFF_FFFF_8100_0000 + tag + cpu * 0x10
    regs[layout.sp_index] = 0xFFFF_C900_0000_3F00 + tag + cpu * 0x100
    return tuple(regs)


def crashed_machine(
    root: Path,
    *,
    e_machine: int = pmt.EM_X86_64,
    table_flags: int = PROCESSED,
    record_flags: int | None = None,
    reject_reason: int = 0,
    p1_reserved: bool = True,
    seed: int = 7,
    zero_pages: tuple[int, ...] = (),
) -> CrashedMachine:
    """cpu 0 saved its registers in its crash notes (the kernel's panic
    path) and in a CPU_STATE record, which the notes win over; cpu 1 only in
    its CPU_STATE record (the SMM watchdog). p1_reserved False: firmware's
    memory map wrongly calls the P1 region RAM. zero_pages: indexes of P1's
    pages that hold zeros, as never-used RAM does."""
    root.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    mem = bytearray(CRASH_IMAGE_SIZE)
    for base, size in ((COPY_BASE, COPY_SIZE), (P0_BASE, P0_SIZE), (P1_BASE, P1_SIZE)):
        mem[base : base + size] = rng.randbytes(size)
    for page in zero_pages:
        mem[P1_BASE + page * PAGE : P1_BASE + (page + 1) * PAGE] = bytes(PAGE)

    layout = machine_layout(e_machine)
    text = SYNTHETIC_VMCOREINFO[e_machine]
    note = vmcoreinfo_note(text)
    notes_regs, notes_pid = registers(e_machine, 0, 0x2000), 4242
    notes_buf = prstatus_note(layout, notes_regs, notes_pid) + bytes(NHDR.size)
    record_regs = tuple(registers(e_machine, cpu, 0x1000) for cpu in range(2))
    records = [
        CpuRecord(
            cpu_id=cpu, gregs=record_regs[cpu], flags=CpuRecordFlags.VALID | CpuRecordFlags.FROM_SMM
        )
        for cpu in range(2)
    ]
    entries = (
        PmtEntry(EntryType.BOOT_COPY, COPY_BASE, COPY_SIZE, dest=COPY_DEST),
        PmtEntry(EntryType.PRESERVE, P0_BASE, P0_SIZE),
        PmtEntry(EntryType.PRESERVE, P1_BASE, P1_SIZE),
        PmtEntry(EntryType.PRESERVE, ANCHOR, ANCHOR_SIZE),
        PmtEntry(EntryType.TABLE, ANCHOR, PAGE),
        PmtEntry(EntryType.CPU_STATE, *CPU_STATE),
        PmtEntry(EntryType.VMCOREINFO, VMCOREINFO_ADDR, len(note)),
        PmtEntry(EntryType.CRASH_NOTES, NOTES_ADDR, len(notes_buf), cpu=0),
    )
    registered = pmt.validate(
        Pmt(
            e_machine=e_machine,
            cpu_count=2,
            table_addr=ANCHOR,
            entries=entries,
            generation=5,
            flags=PmtFlags.ARMED,
            arm_cookie=0xC0FFEE,
            vmcoreinfo_addr=VMCOREINFO_ADDR,
            vmcoreinfo_size=len(note),
            cpu_state_addr=CPU_STATE[0],
            cpu_state_size=CPU_STATE[1],
        )
    )

    def put(addr: int, data: bytes) -> None:
        mem[addr : addr + len(data)] = data

    put(VMCOREINFO_ADDR, note)
    put(NOTES_ADDR, notes_buf)
    put(CPU_STATE[0], pmt.encode_cpu_records(records))
    put(ANCHOR, pmt.encode(registered))
    regions = {
        base: bytes(mem[base : base + size])
        for base, size in (
            (COPY_BASE, COPY_SIZE),
            (P0_BASE, P0_SIZE),
            (P1_BASE, P1_SIZE),
            (ANCHOR, ANCHOR_SIZE),
        )
    }

    # Firmware on the warm reset: copy the boot window away, reuse it, annotate.
    put(COPY_DEST, mem[COPY_BASE : COPY_BASE + COPY_SIZE])
    put(COPY_BASE, bytes([SCRIBBLE]) * COPY_SIZE)
    status = {EntryType.PRESERVE: EntryStatus.PRESERVED, EntryType.BOOT_COPY: EntryStatus.COPIED}
    processed = dataclasses.replace(
        registered,
        flags=table_flags,
        reset_cause=ResetCause.WARM_RESET,
        boot_count=1,
        reject_reason=reject_reason,
        entries=tuple(
            dataclasses.replace(e, fw_status=status.get(e.type, EntryStatus.NONE))
            for e in registered.entries
        ),
    )
    put(ANCHOR, pmt.encode(processed))
    regions[ANCHOR] = bytes(mem[ANCHOR : ANCHOR + ANCHOR_SIZE])

    path = root / "mem.img"
    path.write_bytes(bytes(mem))
    record = PmtRecord(
        anchor_addr=ANCHOR,
        anchor_size=ANCHOR_SIZE,
        flags=table_flags if record_flags is None else record_flags,
        reject_reason=reject_reason,
        reset_cause=ResetCause.WARM_RESET,
        generation=processed.generation,
        boot_window_base=COPY_BASE,
        boot_window_size=COPY_SIZE,
    )
    firmware_map = (
        MemoryRange(0, 0xA0000, LbMemType.RAM),
        MemoryRange(COPY_BASE, COPY_DEST - COPY_BASE, LbMemType.RAM),
        MemoryRange(COPY_DEST, COPY_SIZE, LbMemType.RESERVED),
        MemoryRange(ANCHOR, 0x10_0000, LbMemType.TABLE),
        MemoryRange(P0_BASE, P0_SIZE, LbMemType.RESERVED),
        MemoryRange(P1_BASE, P1_SIZE, LbMemType.RESERVED if p1_reserved else LbMemType.RAM),
    )
    plant_firmware(path, record, CBTABLE, firmware_map)
    return CrashedMachine(
        path, processed, regions, (notes_regs, record_regs[1]), (notes_pid, 2), text
    )
