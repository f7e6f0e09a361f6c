"""The qemu-virt (aarch64) image boots: coreboot 4.15's bootblock and BL31 at
EL3, its FIT loader hands the LinuxBoot kernel the device tree with warmboot's
hand-off, and LinuxBoot's init prints the marker. Linux keeps off the memory
firmware reserved on every boot."""

import re

import pytest

from warmboot.boards import load_board
from warmboot.qemu import QemuMachine
from wbtest import TOP

pytestmark = pytest.mark.qemu

MARKER = "warmboot: linuxboot ready"
DT_PROPS = ("warmboot,anchor", "warmboot,boot-window", "warmboot,reset-mailbox")


def dt_pairs(vm) -> dict[str, tuple[int, int]]:
    """/chosen/warmboot,* <address size> pairs as the running kernel sees them."""
    out = {}
    for prop in DT_PROPS:
        vm.send(
            f"echo \"DT {prop} $(od -An -tx1 /proc/device-tree/chosen/{prop} | tr -d ' \\n')\"\n"
        )
        raw = bytes.fromhex(
            vm.wait_for_line(rf"DT {re.escape(prop)} ([0-9a-f]{{32}})", 30).group(1)
        )
        out[prop] = (int.from_bytes(raw[:8], "big"), int.from_bytes(raw[8:], "big"))
    return out


def system_ram(vm) -> list[tuple[int, int]]:
    vm.send("echo RAM-BEGIN; grep 'System RAM' /proc/iomem; echo RAM-END\n")
    text = vm.wait_for(re.compile(r"RAM-BEGIN\r?\n(.*?)RAM-END", re.S), 30).group(1)
    return [
        (int(a, 16), int(b, 16) + 1)
        for a, b in re.findall(r"^\s*([0-9a-f]+)-([0-9a-f]+) : System RAM", text, re.M)
    ]


def test_virt_boots_the_fit_payload_and_hands_the_anchor_over_in_the_device_tree(virt):
    board = load_board(TOP, "qemu-virt")
    log = virt.build / "logs" / "test-boot-serial.log"
    with QemuMachine.for_board(board, virt.rom, log) as vm:
        banner = vm.wait_for(re.compile(r"coreboot-4\.15\S* .* bootblock starting"), 120)
        anchor = int(vm.wait_for_line(r"warmboot: PMT anchor at (0x[0-9a-f]+)", 120).group(1), 16)
        vm.wait_for("ramstage starting", 120)
        vm.wait_for("FIT: Examine payload", 120)
        vm.wait_for("warmboot: device tree: anchor", 120)
        kernel = vm.wait_for_line(r"Linux version 6\.1\.\d+ .*", 120)
        vm.wait_for(MARKER, 240)
        seconds = vm.elapsed()
        vm.send("echo $((6*7)) > /dev/console; cat /proc/cmdline\n")
        vm.wait_for("42", 30)
        vm.wait_for("console=ttyAMA0", 30)
        chosen = dt_pairs(vm)
        ram = system_ram(vm)
    print(f"{banner.group(0)!r} -> {kernel.group(0)!r}, marker after {seconds:.1f} s")
    text = log.read_text(errors="replace")
    assert text.index("bootblock starting") < text.index("Linux version 6.1") < text.index(MARKER)
    # BL31 (TF-A) ran at EL3 and entered the kernel at EL2.
    assert "NOTICE:  BL31: v2.8" in text
    assert "CPU: All CPU(s) started at EL2" in text

    # The hand-off is what firmware said on its console.
    assert chosen["warmboot,anchor"] == (anchor, 0x10000)
    assert chosen["warmboot,boot-window"] == (0x60100000, 0x6000000)
    mailbox, size = chosen["warmboot,reset-mailbox"]
    assert size == 16 and anchor < mailbox < 0x80000000

    # Firmware's own memory (QEMU's blob, the stages before the copy) and CBMEM
    # are reserved no-map, so the kernel never maps them as System RAM.
    firmware = [(0x40000000, 0x40100000), (0x60000000, 0x60100000), (anchor, anchor + 0x10000)]
    for lo, hi in firmware:
        assert not any(a < hi and lo < b for a, b in ram), (hex(lo), ram)
    assert ram, "no System RAM in /proc/iomem"
