"""Firmware refuses a table with a bad CRC, one with overlapping regions, one
whose copy destination lies over firmware memory and one whose BOOT_COPY
source lies outside the boot window: each time it logs the reason and boots
normally; nothing is copied and nothing is captured. On a 6 GiB guest, a copy
destination in the OS's RAM above 4 GiB is refused too (romstage copies with
32-bit pointers). A valid table on which
the OS set firmware's REJECTED status is judged again, and accepted."""

from __future__ import annotations

import dataclasses
import re
import shutil

import pytest

from crashlab import BANNER, Lab, boot_to_os, count
from warmboot import pmt as pmtlib

pytestmark = pytest.mark.qemu

GiB4 = 4 << 30


def registered_table(vm, path) -> bytes:
    """The table the OS armed, read from guest memory by the host."""
    anchor = int(re.search(r"warmboot: PMT anchor at (0x[0-9a-f]+)", vm.output).group(1), 16)
    vm.monitor(f'pmemsave {anchor:#x} {pmtlib.HEADER_SIZE:#x} "{path}"')
    header = path.read_bytes()
    size = int.from_bytes(header[24:28], "little")
    vm.monitor(f'pmemsave {anchor:#x} {size:#x} "{path}"')
    return path.read_bytes()


def armed_table(lab, tmp_path) -> bytes:
    """Boot once; the valid table the OS armed."""
    vm = lab.start()
    with vm:
        boot_to_os(lab, vm)
        good = registered_table(vm, tmp_path / "armed.bin")
    pmtlib.validate(good)
    return good


def with_table(lab, tmp_path, table: bytes):
    """The machine, powered on, with table on its OS disk as /table.bin."""
    (tmp_path / "table.bin").write_bytes(table)
    lab.put(tmp_path / "table.bin", "/table.bin")
    return lab.start()


def arm_and_warm_reset(lab, vm) -> int:
    """Boot the OS, have it write /table.bin into the anchor as if it armed
    it, then warm-reset. Returns the console offset of the reset."""
    boot_to_os(lab, vm)
    # The OS mounts its dump disk at /var/crash.
    vm.send('pmtctl write-raw /var/crash/table.bin && echo "WRIT""TEN"\n')
    vm.wait_for_line("WRITTEN", 60)
    mark = len(vm.output)
    # A warm reset with the table armed and nothing shut down, like the reset
    # button (a reboot, even -f, disarms in the kernel).
    vm.send("echo b > /proc/sysrq-trigger\n")
    return mark


def corrupt(table: bytes, how: str) -> bytes:
    t = pmtlib.decode(table)
    if how == "bad-crc":
        data = bytearray(table)
        data[pmtlib.HEADER_SIZE + 1] ^= 0x40  # an entry byte; CRC not updated
        return bytes(data)
    if how == "overlap":
        first = next(e for e in t.entries if e.type == pmtlib.EntryType.PRESERVE)
        clash = dataclasses.replace(first, base=first.base, size=first.size)
        return pmtlib.encode(dataclasses.replace(t, entries=(*t.entries, clash)))
    if how == "boot-copy-outside-window":
        # Below the window (firmware's real-mode memory and SMRAM), touching
        # no PRESERVE region: only the firmware's own rule refuses it.
        entries = tuple(
            dataclasses.replace(e, base=0) if e.type == pmtlib.EntryType.BOOT_COPY else e
            for e in t.entries
        )
        return pmtlib.encode(dataclasses.replace(t, entries=entries))
    if how == "dest-in-firmware":
        cbmem = t.table_addr + 0x10000  # just above the anchor: coreboot's CBMEM
        entries = tuple(
            dataclasses.replace(e, dest=cbmem) if e.type == pmtlib.EntryType.BOOT_COPY else e
            for e in t.entries
        )
        return pmtlib.encode(dataclasses.replace(t, entries=entries))
    if how == "dest-above-4-gib":
        # Cut a 128 MiB hole, away from the kernel's crash notes and other
        # metadata, out of the OS's PRESERVE region above 4 GiB (no firmware
        # range there either) and copy into it.
        size = 128 << 20
        high = next(e for e in t.entries if e.type == pmtlib.EntryType.PRESERVE and e.base >= GiB4)
        kept = (pmtlib.EntryType.PRESERVE, pmtlib.EntryType.BOOT_COPY)
        metadata = [(e.base, e.base + e.size) for e in t.entries if e.type not in kept]
        hole = next(
            start
            for start in range(high.base, high.base + high.size - size, size)
            if not any(lo < start + size and start < hi for lo, hi in metadata)
        )
        entries: list = []
        for e in t.entries:
            if e is high:
                entries.append(dataclasses.replace(e, size=hole - e.base))
                end = e.base + e.size
                entries.append(dataclasses.replace(e, base=hole + size, size=end - hole - size))
            elif e.type == pmtlib.EntryType.BOOT_COPY:
                entries.append(dataclasses.replace(e, dest=hole))
            else:
                entries.append(e)
        return pmtlib.encode(dataclasses.replace(t, entries=tuple(entries)))
    raise ValueError(how)


@pytest.mark.parametrize(
    "how, reason, code",
    [
        ("bad-crc", "bad CRC", "BAD_CRC"),
        ("overlap", "overlapping entries", "OVERLAP"),
        ("dest-in-firmware", "destination in firmware memory", "DEST_IN_FIRMWARE"),
        ("boot-copy-outside-window", "bad entry", "BAD_ENTRY"),
    ],
)
def test_firmware_rejects_a_broken_table_and_boots_normally(lab, tmp_path, how, reason, code):
    bad = corrupt(armed_table(lab, tmp_path), how)
    with with_table(lab, tmp_path, bad) as vm:
        mark = arm_and_warm_reset(lab, vm)
        vm.wait_for(f"warmboot: PMT rejected: {reason}", 120)
        boot_to_os(lab, vm)
        # The coreboot record tells the OS what firmware made of the table.
        status = lab.shell(
            vm, "pmtctl status | sed -n 's/^  this boot: /BOOT: /p'", r"BOOT: (flags .*)"
        ).group(1)
        rest = vm.output[mark:]
    assert count(rest, BANNER) == 1
    assert "accepted" not in rest and "copied" not in rest
    assert "crash dump" not in rest
    assert lab.crash_dirs() == []
    assert "REJECTED" in status and f"reject {code}" in status, status


def test_a_copy_destination_above_4_gib_is_refused(crash_images, tmp_path, request):
    lab = Lab(crash_images, tmp_path, request.node.name, memory="6G")
    try:
        bad = corrupt(armed_table(lab, tmp_path), "dest-above-4-gib")
        with with_table(lab, tmp_path, bad) as vm:
            mark = arm_and_warm_reset(lab, vm)
            rejected = vm.wait_for_line(r"warmboot: PMT rejected: .*", 120).group(0)
            boot_to_os(lab, vm)
            rest = vm.output[mark:]
        crash_dirs = lab.crash_dirs()
    finally:
        shutil.rmtree(tmp_path, ignore_errors=True)
    assert "destination in firmware memory (entry 0)" in rejected, rejected
    assert count(rest, BANNER) == 1
    assert "accepted" not in rest and "copied" not in rest
    assert crash_dirs == []


def test_a_rejected_flag_the_os_set_is_not_firmwares_verdict(lab, tmp_path):
    """REJECTED, reject_reason and reject_entry are firmware-owned and outside
    the CRC: the OS can set them on a valid table. Romstage clears them and
    judges the table, so romstage, ramstage and the payload agree: accepted,
    copied, reserved and captured."""
    good = armed_table(lab, tmp_path)
    forged = bytearray(good)
    flags = int.from_bytes(forged[40:44], "little") | pmtlib.PmtFlags.REJECTED
    forged[40:44] = flags.to_bytes(4, "little")
    forged[44:46] = int(pmtlib.RejectReason.BAD_CRC).to_bytes(2, "little")
    forged[48:52] = (0).to_bytes(4, "little")
    assert pmtlib.compute_crc(bytes(forged)) == pmtlib.compute_crc(good)  # outside the CRC
    with with_table(lab, tmp_path, bytes(forged)) as vm:
        mark = arm_and_warm_reset(lab, vm)
        vm.wait_for("warmboot: PMT came with REJECTED set; judging it again", 120)
        vm.wait_for("accepted: copied", 60)
        vm.wait_for("warmboot: reserved the preserved regions", 60)
        vm.wait_for("warmboot: linuxboot ready", 120)
        vm.wait_for("warmboot: os ready", 300)
        rest = vm.output[mark:]
    assert "PMT rejected" not in rest and "not reserving" not in rest
    assert count(rest, BANNER) == 1
