"""The tools on a real kernel: the LinuxBoot kernel boots in QEMU, pmtctl
arms against its real /proc and /sys, loads the crash stub and sets the real
CMOS cookie; init exits, the kernel panics, its crash path saves every CPU's
registers and jumps to the stub, which resets through 0xcf9. QEMU pauses at
that reset, the host saves all of RAM, plays firmware (copies the boot
window, marks the table processed) and dumpcap writes the vmcore, which
makedumpfile filters and reads the panic's log from.

QEMU's BIOS has no coreboot tables, so the guest's pmtctl uses a small file
holding the record and the anchor (guest.py); the host copies the table it
wrote into the RAM image at the anchor's address.
"""

from __future__ import annotations

import dataclasses
import re
import secrets
import shutil
import subprocess

import pytest

from guest import (
    CRASHKERNEL_MIN,
    CRASHKERNEL_TOO_SMALL,
    GUEST_ANCHOR,
    GUEST_ANCHOR_SIZE,
    GUEST_BOOT_WINDOW,
    GUEST_CBTABLE,
    GUEST_DEST,
    boot_and_panic,
)
from machines import PROCESSED, X86_FIRMWARE, plant_firmware, read_at, write_at
from warmboot import pmt
from warmboot.handoff.cbtable import PmtRecord
from warmboot.pmt import EntryStatus, EntryType, ResetCause
from warmboot.vmcore.reader import read_vmcore

pytestmark = pytest.mark.qemu

GUEST_RAM = 1 << 30
STUB_CODE = bytes.fromhex("b006 66baf90c ee f4ebfd")
KERNEL_TEXT = (0xFFFF_FFFF_8100_0000, 0xFFFF_FFFF_C000_0000)
KDUMP_SIGNATURE = b"KDUMP   "


@pytest.fixture(scope="module")
def guest_files(q35):
    return q35.build / "linux" / "bzImage", q35.build / "initramfs" / "initramfs.cpio.lz4"


@pytest.fixture(scope="module")
def panicked(guest_files, tools, tmp_path_factory):
    work = tmp_path_factory.mktemp("real-panic")
    marker = f"warmboot-panic-{secrets.token_hex(8)}"
    run = boot_and_panic(
        *guest_files, tools.path("pmtctl"), work, CRASHKERNEL_MIN, marker, GUEST_RAM
    )
    yield run, marker
    shutil.rmtree(work, ignore_errors=True)


def guest_table(run) -> pmt.Pmt:
    return pmt.decode(
        run.anchor_pages[GUEST_ANCHOR], pmt.PmtLimits(firmware_ranges=((0, 1 << 20),))
    )


def test_pmtctl_arms_with_the_real_kernels_values(panicked):
    run, _ = panicked
    out = run.output
    assert "ARM-RC 0" in out and "CRASH-LOADED 1" in out
    table = guest_table(run)
    vmci = re.search(r"VMCI 0x([0-9a-f]+) ([0-9a-f]+)", out)
    assert (table.vmcoreinfo_addr, table.vmcoreinfo_size) == (int(vmci[1], 16), int(vmci[2], 16))
    notes = {
        int(cpu): (int(addr, 16), int(size))
        for cpu, addr, size in re.findall(r"NOTES (\d+) ([0-9a-f]+) (\d+)", out)
    }
    assert {e.cpu: (e.base, e.size) for e in table.entries_of(EntryType.CRASH_NOTES)} == notes
    assert table.cpu_count == len(notes) == 2
    apic_ids = [int(a) for a in re.findall(r"CPUINFO apicid\s+: (\d+)", out)]
    area = run.anchor_pages[GUEST_ANCHOR + GUEST_ANCHOR_SIZE // 2]
    assert [r.cpu_id for r in pmt.decode_cpu_records(area, 2)] == apic_ids
    (copy,) = table.entries_of(EntryType.BOOT_COPY)
    assert (copy.base, copy.size, copy.dest) == (*GUEST_BOOT_WINDOW, GUEST_DEST)
    # The cookie went to the real CMOS through /dev/port and reads back.
    assert f"cmos cookie {table.arm_cookie:#x} (matches the table)" in out


def test_crash_stub_resets_through_cf9_after_the_panic(panicked):
    run, _ = panicked
    assert "Kernel panic - not syncing: Attempted to kill init" in run.output
    assert "paused (shutdown)" in run.status  # a guest reset, turned into a pause
    assert run.stub_bytes == STUB_CODE
    # One CPU stopped in the stub's hlt loop after its out to 0xcf9; the
    # other is where the crash path's NMI parked it, in kernel text.
    assert any(run.stub + 6 <= rip <= run.stub + len(STUB_CODE) for rip in run.rips), run.rips
    assert any(KERNEL_TEXT[0] <= rip < KERNEL_TEXT[1] for rip in run.rips), run.rips


def test_too_small_a_crashkernel_refuses_to_arm_and_writes_nothing(guest_files, tools, tmp_path):
    # Without a stub the panic just stops; the reset would come within a second.
    run = boot_and_panic(
        *guest_files,
        tools.path("pmtctl"),
        tmp_path,
        CRASHKERNEL_TOO_SMALL,
        "never-logged",
        None,
        reset_timeout=3,
    )
    assert "ARM-RC 1" in run.output and "CRASH-LOADED 0" in run.output
    assert "crash kernel range is too small" in run.output
    assert f"table at {GUEST_ANCHOR:#x}: invalid: BAD_MAGIC" in run.output
    assert "cmos cookie 0 (disarmed)" in run.output
    assert "paused" not in run.status  # no stub: the panic just stops


@pytest.fixture(scope="module")
def captured(panicked, tools, tmp_path_factory):
    """The host plays firmware on the saved RAM, then runs dumpcap on it."""
    run, marker = panicked
    ram = run.ram
    registered = guest_table(run)
    status = {EntryType.PRESERVE: EntryStatus.PRESERVED, EntryType.BOOT_COPY: EntryStatus.COPIED}
    processed = dataclasses.replace(
        registered,
        flags=PROCESSED,
        reset_cause=ResetCause.WARM_RESET,
        boot_count=1,
        entries=tuple(
            dataclasses.replace(e, fw_status=status.get(e.type, 0)) for e in registered.entries
        ),
    )
    encoded = pmt.encode(processed)
    # Firmware annotates without re-signing: the guest's CRC still holds.
    assert encoded[28:32] == run.anchor_pages[GUEST_ANCHOR][28:32]
    write_at(ram, GUEST_ANCHOR, encoded)
    write_at(
        ram,
        GUEST_ANCHOR + GUEST_ANCHOR_SIZE // 2,
        run.anchor_pages[GUEST_ANCHOR + GUEST_ANCHOR_SIZE // 2],
    )
    write_at(ram, GUEST_DEST, read_at(ram, *GUEST_BOOT_WINDOW))
    plant_firmware(
        ram,
        PmtRecord(
            anchor_addr=GUEST_ANCHOR,
            anchor_size=GUEST_ANCHOR_SIZE,
            flags=PROCESSED,
            reset_cause=ResetCause.WARM_RESET,
            generation=processed.generation,
            boot_window_base=GUEST_BOOT_WINDOW[0],
            boot_window_size=GUEST_BOOT_WINDOW[1],
            **X86_FIRMWARE,
        ),
        GUEST_CBTABLE,
    )
    out = tmp_path_factory.mktemp("real-capture") / "crash"
    result = tools.run("dumpcap", "--mem", ram, out, timeout=300)
    assert result.returncode == 0, result.stderr
    print(result.stdout)
    return out / "vmcore", result, marker


def test_dumpcap_vmcore_holds_every_cpu_the_kernel_saved_and_its_vmcoreinfo(captured, panicked):
    vmcore, result, _ = captured
    run, _ = panicked
    info = read_vmcore(vmcore)
    release = re.search(r"RELEASE (\S+)", run.output)[1]
    assert info.vmcoreinfo["OSRELEASE"] == release
    assert "CRASHTIME" in info.vmcoreinfo  # written by the panic's crash path
    assert len(info.cpus) == 2
    assert all(KERNEL_TEXT[0] <= cpu.pc < KERNEL_TEXT[1] for cpu in info.cpus)
    assert 1 in [cpu.pid for cpu in info.cpus]  # init panicked on its CPU
    assert sum(r.size for r in info.regions) > 1000 << 20
    m = re.search(r"vmcore written \S+ (\d+) bytes in ([\d.]+) s \(([\d.]+) MB/s\)", result.stdout)
    assert m and int(m[1]) == vmcore.stat().st_size


def test_makedumpfile_filters_the_vmcore_and_reads_the_panic_log(captured, tmp_path):
    vmcore, _, marker = captured
    dumpfile = tmp_path / "dumpfile"
    result = subprocess.run(
        ["makedumpfile", "-d", "31", "-l", str(vmcore), str(dumpfile)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert dumpfile.read_bytes()[:8] == KDUMP_SIGNATURE
    log = tmp_path / "dmesg"
    result = subprocess.run(
        ["makedumpfile", "--dump-dmesg", str(vmcore), str(log)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    text = log.read_text(errors="replace")
    assert "Linux version 6.1" in text
    assert marker in text
    assert "Kernel panic - not syncing: Attempted to kill init" in text
