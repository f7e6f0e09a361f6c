"""No crash, no capture: a clean reboot disarms the table (the kernel's
warmboot driver does it on the way down), and a cold start (QEMU restarted,
with guest RAM retained in a file) never acts on the stale armed table it
finds in memory. Either way the OS boots with all of its memory."""

from __future__ import annotations

import pytest

from crashlab import BANNER, boot_to_os, count, meminfo, sysfs

pytestmark = pytest.mark.qemu


def test_clean_reboot_does_not_capture(lab):
    vm = lab.start()
    with vm:
        boot_to_os(lab, vm)
        mem_first = meminfo(lab, vm)
        mark = len(vm.output)
        vm.send("reboot\n")
        vm.wait_for("warmboot: disarmed for a clean restart", 60)
        vm.wait_for(BANNER, 120)
        boot_to_os(lab, vm)
        rest = vm.output[mark:]
        mem_again = meminfo(lab, vm)
        status = sysfs(lab, vm, "capture_status")
    assert count(rest, BANNER) == 1
    assert "accepted" not in rest and "crash dump" not in rest and "dump saved" not in rest
    assert status == "none"
    assert abs(mem_again - mem_first) <= 16, (mem_first, mem_again)
    assert lab.crash_dirs() == []


def test_cold_start_with_a_stale_armed_table_does_not_capture(lab):
    vm = lab.start(retain_ram=True)
    with vm:
        boot_to_os(lab, vm)
        anchor = int(
            lab.shell(vm, "pmtctl status | grep -i anchor", r"anchor (0x[0-9a-f]+)\+.*").group(1),
            16,
        )
    # QEMU was killed with the table armed: a power cut. DRAM kept it.
    ram = lab.ram_file.read_bytes()[anchor : anchor + 8]
    assert ram == b"WBOOTPMT", "the armed table is in the retained RAM"
    vm = lab.start(retain_ram=True)
    with vm:
        vm.wait_for("armed PMT without a registration (cold boot): cleared", 120)
        boot_to_os(lab, vm)
        text = vm.output
    assert "accepted" not in text and "crash dump" not in text
    assert lab.crash_dirs() == []
