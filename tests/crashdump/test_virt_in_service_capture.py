"""qemu-virt (aarch64), the in-service capture through the device tree: the
kernel driver finds the anchor and the reset mailbox in /chosen and arms;
after a panic and one PSCI reset, LinuxBoot writes the ELF core header and
boots the OS at once; the OS serves /proc/vmcore, saves it, and gives the
memory back. The arm64 test OS carries no makedumpfile (Debian's is packaged
for the host's architecture only here), so it saves the whole ELF vmcore
with cp, as kdump-tools does without makedumpfile (docs/crashdump.md)."""

from __future__ import annotations

import re

import pytest

from crashlab import BANNER, boot_to_os, count, gdb_aarch64_backtraces, meminfo, sysfs
from warmboot.vmcore.reader import read_vmcore

pytestmark = pytest.mark.qemu

BOOT_TIMEOUT = 600  # TCG: firmware, LinuxBoot and the OS, emulated


def test_panic_on_virt_is_saved_in_service_after_one_reset(virt_lab, tmp_path):
    lab = virt_lab
    vm = lab.start()
    with vm:
        boot_to_os(lab, vm, BOOT_TIMEOUT)
        armed = re.findall(r"warmboot: armed generation \d+.*", vm.output)[-1]
        mem_normal = meminfo(lab, vm)
        release = lab.shell(vm, 'echo "REL $(uname -r)"', r"REL (\S+)").group(1)
        vm.send("echo c > /proc/sysrq-trigger\n")
        vm.wait_for("Kernel panic", 120)
        panicked, mark = vm.elapsed(), len(vm.output)
        vm.wait_for("warmboot: the OS saves its own dump", BOOT_TIMEOUT)
        vm.wait_for("warmboot: in service", BOOT_TIMEOUT)
        in_service = vm.elapsed()
        saved = vm.wait_for_line(
            r"warmboot: dump saved in /crash/(\S+)/(dump\.\S+) "
            r"\((\d+) bytes\)",
            1200,
        )
        saved_at = vm.elapsed()
        vm.wait_for("warmboot: dump memory released", 300)
        after_panic = vm.output[mark:]
        mem_after = meminfo(lab, vm)
        status = sysfs(lab, vm, "capture_status")
    print(
        f"virt: panic -> in service {in_service - panicked:.1f} s, "
        f"-> dump saved {saved_at - panicked:.1f} s"
    )
    assert "with the device tree" in armed, armed
    assert count(after_panic, BANNER) == 1, "one PSCI reset, then LinuxBoot, then the OS"
    assert "warmboot: reset mailbox at" in after_panic
    assert "serving the dump of table generation" in after_panic
    assert status == "released"
    assert abs(mem_after - mem_normal) <= 64, (mem_normal, mem_after)

    dump = lab.extract(f"/crash/{saved[1]}/{saved[2]}", tmp_path / "vmcore")
    info = read_vmcore(dump)
    assert info.e_machine == 183
    assert info.vmcoreinfo["OSRELEASE"] == release
    assert "CRASHTIME" in info.vmcoreinfo
    assert len(info.cpus) == lab.board.qemu.smp
    backtraces = gdb_aarch64_backtraces(lab, dump)
    assert re.search(r"in panic \(", backtraces), backtraces[-3000:]
    assert re.search(r"in sysrq_handle_crash \(", backtraces), backtraces[-3000:]


def test_clean_reboot_on_virt_gives_back_nothing_and_captures_nothing(virt_lab):
    lab = virt_lab
    vm = lab.start()
    with vm:
        boot_to_os(lab, vm, BOOT_TIMEOUT)
        mem_first = meminfo(lab, vm)
        mark = len(vm.output)
        vm.send("reboot\n")
        vm.wait_for("warmboot: disarmed for a clean restart", 120)
        boot_to_os(lab, vm, BOOT_TIMEOUT)
        rest = vm.output[mark:]
        mem_again = meminfo(lab, vm)
    assert count(rest, BANNER) == 1
    assert "accepted" not in rest and "dump saved" not in rest
    assert abs(mem_again - mem_first) <= 64, (mem_first, mem_again)
