"""qemu-virt (aarch64): the arm cookie is the reset mailbox only the crash
path writes, so a cold start (QEMU restarted, guest RAM retained in a file)
never acts on the stale armed table it finds in memory."""

from __future__ import annotations

import re

import pytest

from crashlab import boot_to_os

pytestmark = pytest.mark.qemu

DRAM = 0x40000000
BOOT_TIMEOUT = 600


def test_cold_start_on_virt_with_a_stale_armed_table_does_not_capture(virt_lab):
    lab = virt_lab
    vm = lab.start(retain_ram=True)
    with vm:
        boot_to_os(lab, vm, BOOT_TIMEOUT)
        anchor = int(
            lab.shell(vm, "pmtctl status | grep -i anchor", r"anchor (0x[0-9a-f]+)\+.*").group(1),
            16,
        )
        cookie = lab.shell(
            vm, "pmtctl status | grep 'mailbox cookie'", r"reset mailbox cookie (0x[0-9a-f]+|0)\b.*"
        ).group(1)
    # QEMU was killed with the table armed: a power cut. DRAM kept it, and the
    # mailbox is empty: only the crash stub fills it.
    ram = lab.ram_file.read_bytes()
    assert ram[anchor - DRAM : anchor - DRAM + 8] == b"WBOOTPMT", "the armed table is in RAM"
    assert int(cookie, 16) == 0
    vm = lab.start(retain_ram=True)
    with vm:
        vm.wait_for("armed PMT without a registration (cold boot): cleared", 300)
        boot_to_os(lab, vm, BOOT_TIMEOUT)
        text = vm.output
    assert not re.search(r"PMT generation \d+ accepted", text) and "crash dump" not in text
    assert lab.crash_dirs() == []
