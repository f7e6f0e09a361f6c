"""Fixtures for the vmcore tests."""

from __future__ import annotations

import re
import secrets
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest

from warmboot.boards import load_board
from warmboot.handoff.physmem import ElfCoreMemory
from warmboot.pmt import EM_X86_64, EntryType, Pmt, PmtEntry, PmtFlags, validate
from warmboot.qemu import QemuMachine
from warmboot.vmcore.capture import plan_capture
from warmboot.vmcore.writer import write_vmcore
from wbtest import TOP

PAGE = 4096


@dataclass(frozen=True)
class RealKernelVmcore:
    """A vmcore warmboot wrote from a real kernel's memory: its VMCOREINFO is
    the kernel's own; vmlinux (with debug info, for crash(8)) may be None."""

    vmcore: Path
    osrelease: str
    vmlinux: Path | None
    kmsg_marker: str


def _pages(start: int, end_inclusive: int) -> tuple[int, int] | None:
    base = -(-start // PAGE) * PAGE
    end = (end_inclusive + 1) // PAGE * PAGE
    return (base, end - base) if end > base else None


def table_for_running_kernel(
    ram: list[tuple[int, int]],
    vmcoreinfo: tuple[int, int],
    crash_notes: dict[int, int],
    notes_size: int,
    cpus: int,
) -> Pmt:
    """The PMT `pmtctl arm` would register: all System RAM preserved in place,
    the kernel's VMCOREINFO note and per-CPU crash notes, the table in the
    first preserved page."""
    regions = [r for r in (_pages(s, e) for s, e in ram) if r]
    table_page = regions[-1][0]
    entries = [PmtEntry(EntryType.PRESERVE, base, size) for base, size in regions]
    entries.append(PmtEntry(EntryType.TABLE, table_page, PAGE))
    entries.append(PmtEntry(EntryType.VMCOREINFO, *vmcoreinfo))
    for cpu, addr in sorted(crash_notes.items()):
        entries.append(PmtEntry(EntryType.CRASH_NOTES, addr, notes_size, cpu=cpu))
    table = Pmt(
        e_machine=EM_X86_64,
        cpu_count=cpus,
        table_addr=table_page,
        entries=tuple(entries),
        generation=1,
        flags=PmtFlags.ARMED | PmtFlags.WARM_RESET_SEEN | PmtFlags.COPY_DONE,
        vmcoreinfo_addr=vmcoreinfo[0],
        vmcoreinfo_size=vmcoreinfo[1],
    )
    validate(table)
    return table


@pytest.fixture(scope="session")
def real_kernel_vmcore(q35, tmp_path_factory) -> RealKernelVmcore:
    """Boot the qemu-q35 LinuxBoot kernel, write a marker to its log, read where
    its VMCOREINFO and crash notes live, dump guest memory with QEMU, and let
    warmboot's capture write the vmcore from a PMT covering all its RAM."""
    board = load_board(TOP, "qemu-q35")
    work = tmp_path_factory.mktemp("real-vmcore")
    marker = f"warmboot-test-{secrets.token_hex(8)}"
    dump = work / "guest.elf"
    with QemuMachine.for_board(
        board, q35.rom, q35.build / "logs" / "test-vmcore-serial.log", monitor=True
    ) as vm:
        vm.wait_for("warmboot: linuxboot ready", 120)
        # The kernel may still be probing devices; keep its messages off the
        # console so they cannot interleave with the replies parsed below.
        vm.send("dmesg -n 1\n")
        vm.send(f"echo {marker} > /dev/kmsg\n")
        vm.send('echo "VMCI $(cat /sys/kernel/vmcoreinfo)"\n')
        vmci = vm.wait_for_line(r"VMCI (?:0x)?([0-9a-f]+) ([0-9a-f]+)", 30)
        vm.send('echo "NSIZE $(cat /sys/devices/system/cpu/cpu0/crash_notes_size)"\n')
        nsize = int(vm.wait_for_line(r"NSIZE (\d+)", 30).group(1))
        vm.send(
            "for c in /sys/devices/system/cpu/cpu[0-9]*; do "
            'echo "NOTES ${c##*cpu} $(cat $c/crash_notes)"; done\n'
        )
        notes = {}
        for _ in range(board.qemu.smp):
            m = vm.wait_for_line(r"NOTES (\d+) (?:0x)?([0-9a-f]+)", 30)
            notes[int(m.group(1))] = int(m.group(2), 16)
        vm.send('echo "RELEASE $(uname -r)"; grep "System RAM" /proc/iomem; echo IOMEM-END\n')
        release = vm.wait_for_line(r"RELEASE (6\.1\.\S+)", 30).group(1)
        iomem = vm.wait_for(
            re.compile(r"((?:\s*[0-9a-f]+-[0-9a-f]+ : System RAM\s*)+)IOMEM-END"), 30
        ).group(1)
        vm.monitor(f"dump-guest-memory {dump}", timeout=120)
    ram = [
        (int(a, 16), int(b, 16))
        for a, b in re.findall(r"([0-9a-f]+)-([0-9a-f]+) : System RAM", iomem)
    ]
    table = table_for_running_kernel(
        ram, (int(vmci.group(1), 16), int(vmci.group(2), 16)), notes, nsize, board.qemu.smp
    )
    vmcore = work / "vmcore"
    with ElfCoreMemory(dump) as memory, open(vmcore, "wb") as out:
        capture = plan_capture(table, memory)
        write_vmcore(capture.plan, memory, out)
    dump.unlink()  # a guest's worth of RAM; the vmcore holds what we need
    yield RealKernelVmcore(vmcore, release, None, marker)
    shutil.rmtree(work, ignore_errors=True)
