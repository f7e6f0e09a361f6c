"""pmtctl against a fake running OS: a memory image with coreboot tables and
the anchor, fake /proc/iomem, /sys, /proc/cmdline, /proc/cpuinfo and CMOS.
What it registers is judged by the Python reference validator."""

from __future__ import annotations

import dataclasses

import pytest

from machines import (
    APIC_IDS,
    BOOT_WINDOW,
    CMA_BASE,
    CRASH_NOTES,
    IOMEM,
    NOTES_SIZE,
    OS_ANCHOR,
    OS_ANCHOR_SIZE,
    VMCOREINFO,
    cmos_cookie,
    cmos_image,
    read_at,
    running_os,
    write_at,
)
from warmboot import pmt
from warmboot.pmt import EntryType, PmtEntry, PmtFlags

MiB = 1 << 20
NO_STUB = "--no-crash-stub"
# Firmware's own limits as it will check the table: the first MiB is its.
FIRMWARE = ((0, 1 * MiB),)


def registered(machine) -> pmt.Pmt:
    """The anchor's table as firmware would accept it: valid, cookie = CMOS."""
    return pmt.decode(
        machine.anchor(),
        pmt.PmtLimits(firmware_ranges=FIRMWARE, arm_cookie=cmos_cookie(machine.cmos)),
    )


def arm(tools, machine, *extra):
    return tools.run("pmtctl", *machine.args(), "arm", NO_STUB, *extra)


def test_arm_registers_ram_boot_copy_anchor_and_kernel_objects(tools, tmp_path):
    machine = running_os(tmp_path)
    result = arm(tools, machine)
    assert result.returncode == 0, result.stderr
    table = registered(machine)
    cookie = cmos_cookie(machine.cmos)

    boot, boot_size = BOOT_WINDOW
    cma_end = CMA_BASE + boot_size
    assert set(table.entries) == {
        PmtEntry(EntryType.BOOT_COPY, boot, boot_size, dest=CMA_BASE),
        # System RAM 0x100000-0xeffffff, less the boot window and the copy's destination;
        # the RAM below 1 MiB is firmware's.
        PmtEntry(EntryType.PRESERVE, boot + boot_size, CMA_BASE - boot - boot_size),
        PmtEntry(EntryType.PRESERVE, cma_end, 0x0F00_0000 - cma_end),
        PmtEntry(EntryType.PRESERVE, OS_ANCHOR, OS_ANCHOR_SIZE),
        PmtEntry(EntryType.TABLE, OS_ANCHOR, 0x1000),
        PmtEntry(EntryType.CPU_STATE, OS_ANCHOR + OS_ANCHOR_SIZE // 2, OS_ANCHOR_SIZE // 2),
        PmtEntry(EntryType.VMCOREINFO, *VMCOREINFO),
        *(
            PmtEntry(EntryType.CRASH_NOTES, addr, NOTES_SIZE, cpu=cpu)
            for cpu, addr in CRASH_NOTES.items()
        ),
    }
    assert table.flags == PmtFlags.ARMED
    assert table.generation == 1
    assert table.arm_cookie == cookie != 0
    assert (table.e_machine, table.cpu_count, table.table_addr) == (62, 2, OS_ANCHOR)
    assert (table.vmcoreinfo_addr, table.vmcoreinfo_size) == VMCOREINFO
    assert (table.cpu_state_addr, table.cpu_state_size) == (OS_ANCHOR + 0x8000, 0x8000)
    assert f"cookie {cookie:#018x}" in result.stdout and "generation 1" in result.stdout


def test_arm_prefills_one_cpu_record_per_possible_cpu_with_its_apic_id(tools, tmp_path):
    machine = running_os(tmp_path)
    assert arm(tools, machine).returncode == 0
    area = read_at(machine.mem, OS_ANCHOR + OS_ANCHOR_SIZE // 2, OS_ANCHOR_SIZE // 2)
    records = pmt.decode_cpu_records(area, 2, e_machine=pmt.EM_X86_64)
    assert [r.cpu_id for r in records] == [APIC_IDS[0], APIC_IDS[1]]
    assert not any(r.valid or r.gregs for r in records)
    assert area[2 * pmt.CPU_RECORD_SIZE :] == bytes(len(area) - 2 * pmt.CPU_RECORD_SIZE)


def test_arm_again_bumps_the_generation_and_the_cookie(tools, tmp_path):
    machine = running_os(tmp_path)
    assert arm(tools, machine).returncode == 0
    first = registered(machine)
    assert arm(tools, machine).returncode == 0
    second = registered(machine)
    assert second.generation == first.generation + 1 == 2
    assert second.arm_cookie != first.arm_cookie
    assert second.entries == first.entries


def test_arm_after_a_garbage_anchor_starts_at_generation_one(tools, tmp_path):
    machine = running_os(tmp_path)
    write_at(machine.mem, OS_ANCHOR, b"WBOOTPMT" + bytes(range(200)))
    assert arm(tools, machine).returncode == 0
    assert registered(machine).generation == 1


def test_arm_takes_dest_from_the_option_over_cma(tools, tmp_path):
    machine = running_os(tmp_path, cmdline="console=ttyS0")
    result = arm(tools, machine, "--dest", "0x9000000")
    assert result.returncode == 0, result.stderr
    copies = registered(machine).entries_of(EntryType.BOOT_COPY)
    assert [(e.base, e.dest) for e in copies] == [(BOOT_WINDOW[0], 0x900_0000)]


def test_status_shows_firmware_record_table_entries_and_cookie(tools, tmp_path):
    machine = running_os(tmp_path)
    assert arm(tools, machine).returncode == 0
    cookie = cmos_cookie(machine.cmos)
    result = tools.run("pmtctl", *machine.args(), "status")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert f"anchor {OS_ANCHOR:#x}+{OS_ANCHOR_SIZE:#x}" in out
    assert "this boot: flags 0, reject NONE" in out
    assert f"valid, generation 1, flags ARMED, cookie {cookie:#x}" in out
    assert "  BOOT_COPY   0x0000000000100000 0x0000000000400000 0x0000000008000000" in out
    assert out.count("CRASH_NOTES") == 2
    assert f"cmos cookie {cookie:#x} (matches the table)" in out


def test_status_says_why_the_anchor_holds_no_valid_table(tools, tmp_path):
    machine = running_os(tmp_path)
    result = tools.run("pmtctl", *machine.args(), "status")
    assert result.returncode == 0
    assert f"table at {OS_ANCHOR:#x}: invalid: BAD_MAGIC" in result.stdout
    assert "cmos cookie 0 (disarmed)" in result.stdout


def test_disarm_clears_armed_keeps_the_table_valid_and_zeroes_cmos(tools, tmp_path):
    machine = running_os(tmp_path)
    assert arm(tools, machine).returncode == 0
    before = registered(machine)
    result = tools.run("pmtctl", *machine.args(), "disarm")
    assert result.returncode == 0, result.stderr
    after = pmt.decode(machine.anchor())  # CRC recomputed: still valid
    assert not after.flags & PmtFlags.ARMED
    assert after.entries == before.entries and after.generation == before.generation
    assert cmos_cookie(machine.cmos) == 0
    again = tools.run("pmtctl", *machine.args(), "disarm")
    assert again.returncode == 0 and "already disarmed" in again.stdout
    assert pmt.decode(machine.anchor()) == after


def test_disarm_keeps_firmware_status(tools, tmp_path):
    machine = running_os(tmp_path)
    assert arm(tools, machine).returncode == 0
    table = registered(machine)
    processed = dataclasses.replace(
        table, flags=table.flags | PmtFlags.WARM_RESET_SEEN | PmtFlags.COPY_DONE, boot_count=1
    )
    write_at(machine.mem, OS_ANCHOR, pmt.encode(processed))
    assert tools.run("pmtctl", *machine.args(), "disarm").returncode == 0
    after = pmt.decode(machine.anchor())
    assert after.flags == PmtFlags.WARM_RESET_SEEN | PmtFlags.COPY_DONE
    assert after.boot_count == 1


def test_write_raw_puts_bytes_in_the_anchor_and_their_cookie_in_cmos(tools, tmp_path):
    machine = running_os(tmp_path)
    assert arm(tools, machine).returncode == 0
    table = bytearray(machine.anchor()[: len(pmt.encode(registered(machine)))])
    table[-1] ^= 0xFF  # now a BAD_CRC table
    table[80:88] = (0x1122334455667788).to_bytes(8, "little")
    raw = tmp_path / "corrupt.bin"
    raw.write_bytes(bytes(table))
    result = tools.run("pmtctl", *machine.args(), "write-raw", raw)
    assert result.returncode == 0, result.stderr
    assert machine.anchor()[: len(table)] == bytes(table)
    assert cmos_cookie(machine.cmos) == 0x1122334455667788
    with pytest.raises(pmt.PmtError) as rejected:
        pmt.decode(machine.anchor())
    assert rejected.value.reason == pmt.RejectReason.BAD_CRC


def test_write_raw_refuses_more_than_the_anchor_holds(tools, tmp_path):
    machine = running_os(tmp_path)
    raw = tmp_path / "big.bin"
    raw.write_bytes(b"\x55" * (OS_ANCHOR_SIZE + 1))
    result = tools.run("pmtctl", *machine.args(), "write-raw", raw)
    assert result.returncode == 1
    assert "larger than the 65536-byte anchor" in result.stderr
    assert machine.anchor() == bytes(OS_ANCHOR_SIZE)


REFUSALS = [
    pytest.param(
        {"cmdline": "console=ttyS0"}, [], "no cma= on the kernel command line", id="no-cma"
    ),
    pytest.param({"cmdline": "cma=64M"}, [], "does not give a fixed base", id="cma-not-fixed"),
    pytest.param(
        {"cmdline": "cma=64M@0x8000000-0x10000000"}, [], "place the area anywhere", id="cma-range"
    ),
    pytest.param(
        {"cmdline": "cma=1M@0x8000000"}, [], "the boot window needs 0x400000", id="cma-too-small"
    ),
    pytest.param({}, ["--dest", "0x4200000"], "overlaps the kernel image", id="dest-on-kernel"),
    pytest.param(
        {}, ["--dest", "0xf100000"], "is not inside one System RAM range", id="dest-not-ram"
    ),
    pytest.param(
        {}, ["--dest", "0x80000"], "is below 0x100000, which firmware reuses", id="dest-in-firmware"
    ),
    pytest.param({}, ["--dest", "0x200000"], "overlaps the boot window", id="dest-on-window"),
    pytest.param(
        {},
        ["--dest", "0x5000000"],
        "METADATA_OUTSIDE_PRESERVED (VMCOREINFO",
        id="dest-on-vmcoreinfo",
    ),
    pytest.param(
        {"crash_notes": {0: 0x510_0002}}, [], "UNALIGNED (CRASH_NOTES", id="unaligned-notes"
    ),
]


@pytest.mark.parametrize("setup, extra, message", REFUSALS)
def test_arm_refuses_bad_inputs_and_writes_nothing(tools, tmp_path, setup, extra, message):
    machine = running_os(tmp_path, **setup)
    result = arm(tools, machine, *extra)
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("pmtctl: ") and message in lines[0], lines
    assert machine.anchor() == bytes(OS_ANCHOR_SIZE)
    assert cmos_cookie(machine.cmos) == 0


def test_arm_needs_a_crash_kernel_range_for_the_crash_stub(tools, tmp_path):
    iomem = IOMEM.replace("  0c000000-0c1fffff : Crash kernel\n", "")
    machine = running_os(tmp_path, iomem=iomem)
    result = tools.run("pmtctl", *machine.args(), "arm")
    assert result.returncode == 1
    assert 'no "Crash kernel" range' in result.stderr and "crashkernel=" in result.stderr
    assert machine.anchor() == bytes(OS_ANCHOR_SIZE)


def test_arm_without_a_warmboot_record_says_firmware_lacks_support(tools, tmp_path):
    machine = running_os(tmp_path)
    write_at(machine.mem, 0x500, bytes(64))  # no coreboot table at all
    result = arm(tools, machine)
    assert result.returncode == 1
    assert "no valid coreboot table" in result.stderr


def test_every_command_leaves_cmos_alone_when_it_fails_early(tools, tmp_path):
    machine = running_os(tmp_path)
    cmos_image(machine.cmos, 0xABCD)
    write_at(machine.mem, 0x500, bytes(64))
    for command in ("arm", "disarm", "status"):
        assert (
            tools.run(
                "pmtctl", *machine.args(), command, *([NO_STUB] if command == "arm" else [])
            ).returncode
            == 1
        )
    assert cmos_cookie(machine.cmos) == 0xABCD
