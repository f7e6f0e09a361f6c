"""What the in-service capture refuses, and how it fails safe (docs/crashdump.md):
a bad ELF core header is refused with a clear message and the OS boots with
all of its memory; a release asked twice is refused; a failed save keeps the
memory and a partial file; and a crash loop ends in LinuxBoot with the first
dump saved."""

from __future__ import annotations

import re
import time

import pytest

from crashlab import BANNER, boot_to_os, count, meminfo, run_crash, sysfs, wait_os_ready

pytestmark = pytest.mark.qemu


def normal_memtotal(lab, vm) -> int:
    boot_to_os(lab, vm)
    return meminfo(lab, vm)


def crash_until_the_save_fails(lab, vm, reason: str) -> tuple[str, int, str]:
    """Panic, come back in service, wait for the save to fail for reason; the
    kernel's capture_status, mem_reserved and dump_active then."""
    vm.send("echo c > /proc/sysrq-trigger\n")
    vm.wait_for("warmboot: in service", 600)
    vm.wait_for(f"warmboot: dump save failed: {reason}", 600)
    status = sysfs(lab, vm, "capture_status")
    return status, int(sysfs(lab, vm, "mem_reserved")), sysfs(lab, vm, "dump_active")


@pytest.mark.parametrize(
    "inject, message",
    [
        pytest.param(
            "corrupt",
            "not serving the previous kernel's dump: not an ELF64 core header",
            id="corrupt",
        ),
        pytest.param(
            "outside",
            r"not serving the previous kernel's dump: PT_LOAD 0x[0-9a-f]+"
            r"\+0x100000 at 0x[0-9a-f]+ is not memory the firmware kept",
            id="outside",
        ),
    ],
)
def test_bad_elf_core_header_is_refused_and_the_os_boots_with_all_its_memory(lab, inject, message):
    lab.configure(INJECT=inject)
    vm = lab.start()
    with vm:
        mem_normal = normal_memtotal(lab, vm)
        vm.send("echo c > /proc/sysrq-trigger\n")
        vm.wait_for("Kernel panic", 60)
        vm.wait_for("dumpcap: TEST: injecting", 300)
        vm.wait_for(re.compile(message), 300)
        wait_os_ready(vm)
        status = sysfs(lab, vm, "capture_status")
        mem_after = meminfo(lab, vm)
        registered = sysfs(lab, vm, "registered")
        held = sysfs(lab, vm, "mem_reserved")
        vmcore = lab.shell(vm, 'ls /proc/vmcore 2>&1; echo "L""S"', r"(.*)\r?\nLS").group(1)
    assert status.startswith("refused: ") and status[len("refused: ") :] in vm.output, status
    assert (registered, held) == ("1", "0")
    assert "No such file" in vmcore, "no /proc/vmcore is served from refused memory"
    assert abs(mem_after - mem_normal) <= 16, (mem_normal, mem_after)


def test_release_asked_twice_is_refused(lab):
    vm = lab.start()
    with vm:
        boot_to_os(lab, vm)
        vm.send("echo c > /proc/sysrq-trigger\n")
        vm.wait_for("warmboot: dump memory released", 600)
        again = lab.shell(
            vm, "echo 1 > /sys/kernel/warmboot/release_mem; echo RC=$?", r"RC=(\d+)"
        ).group(1)
        text = vm.output
    assert again != "0"
    assert "release_mem: nothing to release" in text


def test_failed_save_keeps_the_memory_and_the_partial_file(lab):
    # Files may not grow past 1 MiB (ulimit -f counts 512-byte blocks), as
    # on a full disk or quota: makedumpfile stops part-way.
    lab.put_text("ulimit -f 2048\n", "/boot/warmboot-dump.conf")
    vm = lab.start()
    with vm:
        mem_normal = normal_memtotal(lab, vm)
        status, held, active = crash_until_the_save_fails(
            lab, vm, "makedumpfile exited with status"
        )
        files = lab.shell(
            vm, 'ls /var/crash/crash/*/; echo "E""ND"', r"ND\"\r?\n([\s\S]*?)\r?\nEND"
        ).group(1)
        mem_held = meminfo(lab, vm)
    assert status.startswith("failed: makedumpfile exited with status"), status
    assert active == "1" and held > 0
    assert "dump-incomplete" in files and "FAILED" in files, files
    # The held memory is not the OS's until someone releases it.
    assert mem_held < mem_normal - held // 1024 // 2, (mem_normal, mem_held, held)


def test_save_into_memory_is_refused_and_the_memory_stays_held(lab):
    # A dump directory in the initramfs (a typo, or the disk not mounted)
    # would fill the memory the dump is saved from and vanish at the next
    # reset.
    lab.put_text("COREDIR=/tmp/crash\n", "/boot/warmboot-dump.conf")
    vm = lab.start()
    with vm:
        boot_to_os(lab, vm)
        status, held, active = crash_until_the_save_fails(lab, vm, "/tmp/crash is in memory")
        files = lab.shell(
            vm, 'ls /tmp/crash 2>&1; echo "E""ND"', r"ND\"\r?\n([\s\S]*?)\r?\nEND"
        ).group(1)
    assert re.fullmatch(r"failed: /tmp/crash is in memory \((ramfs|tmpfs)\), not on a disk", status)
    assert active == "1" and held > 0
    assert "No such file" in files, "nothing was written into memory"


def test_crash_loop_stops_in_linuxboot_with_the_first_dump_saved(lab, tmp_path):
    """Every boot of the OS panics in kernel init. The capture boot panics too,
    so LinuxBoot saves the dump itself the next time round; after
    MAX_CAPTURE_BOOTS capture boots that never reached service it stops."""
    lab.put_text(lab.os_cmdline() + " rdinit=/nonexistent\n", "/boot/cmdline")
    lab.configure(MAX_CAPTURE_BOOTS="3")
    vm = lab.start()
    with vm:
        vm.wait_for("VFS: Unable to mount root fs", 240)
        first_panic = len(vm.output)
        vm.wait_for("warmboot: the OS crashed before saving the dump", 600)
        first = vm.wait_for_line(r"warmboot: crash dump saved in /crash/(\S+)", 600)
        vm.wait_for("warmboot: crash loop: capture boot 4 in a row", 900)
        vm.wait_for("warmboot: not booting the OS again", 600)
        stopped = len(vm.output)
        # LinuxBoot's shell answers, and nothing resets any more.
        time.sleep(10)
        lab.shell(vm, "echo STILL-$((20 + 22))", r"STILL-42", timeout=30)
        rest = vm.output[first_panic:]
        later = vm.output[stopped:]
    assert count(rest, BANNER) == 4, "four warm resets, then LinuxBoot stops"
    assert BANNER not in later
    dump = lab.extract(f"/crash/{first[1]}/vmcore", tmp_path / "vmcore")
    log = run_crash(lab, dump, tmp_path, "log\n")
    assert "VFS: Unable to mount root fs" in log
    assert len([d for d in lab.crash_dirs() if not d.startswith(".")]) == 2
