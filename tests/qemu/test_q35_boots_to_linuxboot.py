"""The qemu-q35 image boots: coreboot 4.15 hands off to the LinuxBoot kernel,
whose init prints the marker on the serial console."""

import re

import pytest

from warmboot.boards import load_board
from warmboot.qemu import QemuMachine
from wbtest import TOP

pytestmark = pytest.mark.qemu

MARKER = "warmboot: linuxboot ready"


def test_coreboot_hands_off_to_linuxboot_which_prints_the_marker(q35):
    board = load_board(TOP, "qemu-q35")
    log = q35.build / "logs" / "test-boot-serial.log"
    with QemuMachine.for_board(board, q35.rom, log) as vm:
        banner = vm.wait_for(re.compile(r"coreboot-4\.15\S* .* bootblock starting"), 60)
        vm.wait_for("ramstage starting", 60)
        vm.wait_for(re.compile(r"Jumping to boot code at"), 60)
        kernel = vm.wait_for_line(r"Linux version 6\.1\.\d+ .*", 60)
        vm.wait_for(MARKER, 120)
        seconds = vm.elapsed()
        # The console is a live shell after the marker.
        vm.send("echo $((6*7)) > /dev/console; cat /proc/cmdline\n")
        vm.wait_for("42", 30)
        vm.wait_for("console=ttyS0,115200", 30)
    print(f"{banner.group(0)!r} -> {kernel.group(0)!r}, marker after {seconds:.1f} s")
    text = log.read_text(errors="replace")
    assert text.index("bootblock starting") < text.index("Linux version 6.1") < text.index(MARKER)
