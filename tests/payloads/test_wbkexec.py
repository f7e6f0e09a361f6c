"""wbkexec --dry-run: the command line LinuxBoot would kexec the OS with.

The table is the one pmtctl registers on the fake running OS, processed as
firmware does; /sys/firmware/memmap is the map firmware gave LinuxBoot, with
everything it kept for the capture reserved."""

from __future__ import annotations

import dataclasses

import pytest

from machines import (
    BOOT_WINDOW,
    OS_ANCHOR,
    OS_ANCHOR_SIZE,
    OS_CBTABLE,
    X86_FIRMWARE,
    plant_firmware,
    running_os,
    write_at,
)
from warmboot import pmt
from warmboot.handoff.cbtable import MemoryRange, PmtRecord
from warmboot.pmt import EntryStatus, EntryType, PmtFlags

CMDLINE = "console=ttyS0,115200 root=/dev/vda"
# (start, inclusive end, type) as /sys/firmware/memmap/N shows them.
FIRMWARE_MAP = [
    (0x0, 0xFFF, "Reserved"),
    (0x1000, 0x9FFFF, "System RAM"),
    (0xA0000, 0xFFFFF, "Reserved"),
    (0x100000, 0x4FFFFF, "System RAM"),  # the boot window: firmware's
    (0x500000, 0xEFFFFFF, "Reserved"),  # kept: RAM, copy dest, RAM
    (0xF000000, 0xF7FFFFF, "Reserved"),  # CBMEM with the anchor
    (0xF800000, 0xF80FFFF, "ACPI Non-volatile Storage"),
    (0xF810000, 0xF81FFFF, "ACPI Tables"),
    (0xF820000, 0xFFFFFFF, "Reserved"),
    (0xB0000000, 0xBFFFFFFF, "Reserved"),
]
RESTORED = (
    "memmap=exactmap memmap=0x1000$0 memmap=0x9f000@0x1000 memmap=0x60000$0xa0000 "
    "memmap=0xef00000@0x100000 memmap=0x800000$0xf000000 "
    "memmap=0x10000%0xf800000+0x4 memmap=0x10000#0xf810000 "
    "memmap=0x7e0000$0xf820000 memmap=0x10000000$0xb0000000"
)


@pytest.fixture
def linuxboot(tools, tmp_path):
    """LinuxBoot after a capture: the table pmtctl registered, processed by
    firmware, and the firmware memory map under a fake /sys."""
    machine = running_os(tmp_path / "os")
    result = tools.run("pmtctl", *machine.args(), "arm", "--no-crash-stub")
    assert result.returncode == 0, result.stderr
    table = pmt.decode(machine.anchor())
    status = {EntryType.PRESERVE: EntryStatus.PRESERVED, EntryType.BOOT_COPY: EntryStatus.COPIED}
    flags = PmtFlags.ARMED | PmtFlags.WARM_RESET_SEEN | PmtFlags.COPY_DONE
    processed = dataclasses.replace(
        table,
        flags=flags,
        entries=tuple(
            dataclasses.replace(e, fw_status=status.get(e.type, 0)) for e in table.entries
        ),
    )
    write_at(machine.mem, OS_ANCHOR, pmt.encode(processed))
    firmware_says(machine, flags)
    sysfs = tmp_path / "sys"
    for index, (start, end, kind) in reversed(list(enumerate(FIRMWARE_MAP))):
        entry = sysfs / "firmware" / "memmap" / str(index)
        entry.mkdir(parents=True)
        (entry / "start").write_text(f"{start:#x}\n")
        (entry / "end").write_text(f"{end:#x}\n")
        (entry / "type").write_text(kind + "\n")
    kernel, cmdline = tmp_path / "bzImage", tmp_path / "cmdline"
    kernel.write_bytes(b"\0" * 4096)
    cmdline.write_text(CMDLINE + "\n")
    return machine, sysfs, kernel, cmdline


E820_TYPES = {"System RAM": 1, "Reserved": 2, "ACPI Tables": 3, "ACPI Non-volatile Storage": 4}


def firmware_says(machine, flags: int, memory_map: bool = True) -> None:
    """coreboot's record for this boot, and (memory_map) the LB_TAG_MEMORY
    the LinuxBoot kernel's e820 was made from: FIRMWARE_MAP again, except
    CBMEM, which coreboot reports as its own type."""
    ranges = tuple(
        MemoryRange(start, end + 1 - start, 16 if start == 0xF000000 else E820_TYPES[kind])
        for start, end, kind in FIRMWARE_MAP
    )
    plant_firmware(
        machine.mem,
        PmtRecord(
            anchor_addr=OS_ANCHOR,
            anchor_size=OS_ANCHOR_SIZE,
            flags=flags,
            generation=1,
            boot_window_base=BOOT_WINDOW[0],
            boot_window_size=BOOT_WINDOW[1],
            **X86_FIRMWARE,
        ),
        OS_CBTABLE,
        ranges if memory_map else (),
    )


def dry_run(tools, machine, sysfs, kernel, cmdline, *extra):
    return tools.run(
        "wbkexec", "--dry-run", "--mem", machine.mem, "--sysfs", sysfs, *extra, kernel, "-", cmdline
    )


def test_restore_ram_turns_kept_memory_back_into_ram_except_the_anchor(tools, linuxboot):
    result = dry_run(tools, *linuxboot, "--restore-ram")
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"{CMDLINE} {RESTORED}\n"
    assert "giving 235.0 MiB of preserved memory back" in result.stderr


def test_without_restore_ram_the_command_line_is_the_files(tools, linuxboot):
    result = dry_run(tools, *linuxboot)
    assert result.returncode == 0 and result.stdout == CMDLINE + "\n"


def test_restore_ram_after_a_boot_that_kept_nothing_changes_nothing(tools, linuxboot):
    machine = linuxboot[0]
    firmware_says(machine, 0)
    result = dry_run(tools, *linuxboot, "--restore-ram")
    assert result.returncode == 0 and result.stdout == CMDLINE + "\n"
    assert "firmware kept no memory this boot" in result.stderr


def test_restore_ram_after_disarm_still_restores(tools, linuxboot):
    machine = linuxboot[0]
    assert tools.run("pmtctl", *machine.args(), "disarm").returncode == 0
    result = dry_run(tools, *linuxboot, "--restore-ram")
    assert result.returncode == 0 and result.stdout == f"{CMDLINE} {RESTORED}\n"


def test_restore_ram_without_sysfs_memmap_uses_coreboots_memory_map(tools, linuxboot, tmp_path):
    machine, _, kernel, cmdline = linuxboot
    result = dry_run(tools, machine, tmp_path / "empty-sys", kernel, cmdline, "--restore-ram")
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"{CMDLINE} {RESTORED}\n"
    assert "using firmware's memory map from the coreboot table" in result.stderr


def test_restore_ram_needs_some_memory_map(tools, linuxboot, tmp_path):
    machine, _, kernel, cmdline = linuxboot
    firmware_says(machine, PmtFlags.ARMED | PmtFlags.COPY_DONE, memory_map=False)
    result = dry_run(tools, machine, tmp_path / "empty-sys", kernel, cmdline, "--restore-ram")
    assert result.returncode == 1 and result.stdout == ""
    assert "no memory map" in result.stderr and "CONFIG_FIRMWARE_MEMMAP" in result.stderr


def test_restore_ram_refuses_when_the_table_is_gone(tools, linuxboot):
    machine = linuxboot[0]
    write_at(machine.mem, OS_ANCHOR, b"garbage!")
    result = dry_run(tools, *linuxboot, "--restore-ram")
    assert result.returncode == 1 and result.stdout == ""
    assert "cannot tell which memory to give back" in result.stderr


def test_a_command_line_too_long_for_the_kernel_is_refused(tools, linuxboot):
    machine, sysfs, kernel, cmdline = linuxboot
    cmdline.write_text("x" * 2020)
    result = dry_run(tools, machine, sysfs, kernel, cmdline)
    assert result.returncode == 1 and "the command line is 2021 bytes" in result.stderr


def test_missing_kernel_is_a_clear_error(tools, linuxboot, tmp_path):
    machine, sysfs, _, cmdline = linuxboot
    result = dry_run(tools, machine, sysfs, tmp_path / "nope", cmdline)
    assert result.returncode == 1
    assert result.stderr.startswith("wbkexec: cannot open the kernel ")
