"""qemu-virt (aarch64), the in-service capture through the device tree: the
kernel driver finds the anchor and the reset mailbox in /chosen and arms;
after a panic and one PSCI reset, LinuxBoot writes the ELF core header and
boots the OS at once; the OS serves /proc/vmcore, saves it with Debian's
arm64 makedumpfile (from the pinned packages on its disk's sysroot/), and
gives the memory back. crash for arm64 judges the saved dump."""

from __future__ import annotations

import re

import pytest

from crashlab import BANNER, boot_to_os, count, meminfo, run_crash, sysfs

pytestmark = pytest.mark.qemu

BOOT_TIMEOUT = 600  # TCG: firmware, LinuxBoot and the OS, emulated


def test_panic_on_virt_is_saved_in_service_after_one_reset(virt_lab, tmp_path, crash_arm64_command):
    lab = virt_lab
    vm = lab.start()
    marker = "WBVIRT-IN-SERVICE-4d1c"
    with vm:
        boot_to_os(lab, vm, BOOT_TIMEOUT)
        armed = re.findall(r"warmboot: armed generation \d+.*", vm.output)[-1]
        mem_normal = meminfo(lab, vm)
        vm.send(f"echo {marker} > /dev/kmsg\n")
        vm.send("echo c > /proc/sysrq-trigger\n")
        vm.wait_for("Kernel panic", 120)
        panicked, mark = vm.elapsed(), len(vm.output)
        vm.wait_for("warmboot: the OS saves its own dump", BOOT_TIMEOUT)
        vm.wait_for("warmboot: in service", BOOT_TIMEOUT)
        in_service = vm.elapsed()
        tool = vm.wait_for_line(r"warmboot: saving the dump of \d+ bytes with (\S+).*", 300)
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

    # Debian's makedumpfile, not the cp fallback, wrote its compressed format.
    assert tool[1] == "makedumpfile", tool[0]
    dump = lab.extract(f"/crash/{saved[1]}/{saved[2]}", tmp_path / "dump")
    assert dump.read_bytes()[:8] == b"KDUMP   ", "makedumpfile's compressed format"
    crash = crash_arm64_command
    log = run_crash(lab, dump, tmp_path, "log\n", crash)
    assert marker in log and "sysrq triggered crash" in log, f"see {lab.crash_log}"
    bt = run_crash(lab, dump, tmp_path, "bt\n", crash)
    frames = re.findall(r"#\d+ \[[0-9a-f]+\] (\w+) at", bt)
    assert frames[frames.index("panic") :][:2] == ["panic", "sysrq_handle_crash"], frames
    # -d 31 left out user and free pages; every CPU's registers are still there.
    bt_all = run_crash(lab, dump, tmp_path, "bt -a\n", crash)
    assert bt_all.count("PID: ") == lab.board.qemu.smp, f"see {lab.crash_log}"


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
