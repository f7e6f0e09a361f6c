"""A panic in the OS leads to exactly one warm reset; coreboot keeps the
registered memory, LinuxBoot writes a vmcore that crash(8) opens, and the OS
boots again with all of its RAM. This is the capture in LinuxBoot, which an
OS selects with CAPTURE=payload in boot/warmboot.conf (and gets when its
kernel has no warmboot driver); test_q35_in_service_capture.py has the
default, in-service flow."""

from __future__ import annotations

import re
import secrets
import subprocess

import pytest
from elftools.elf.elffile import ELFFile

from crashlab import (
    BANNER,
    GUEST_RAM_BYTES,
    PAGE,
    boot_to_os,
    count,
    page_differences,
    read_paddr,
    run_crash,
    wait_os_ready,
)
from warmboot.vmcore.reader import read_vmcore

pytestmark = pytest.mark.qemu

START_KERNEL_MAP = 0xFFFFFFFF80000000  # x86_64 __START_KERNEL_map


def kernel_text(vmlinux, vmcoreinfo: dict) -> tuple[int, int]:
    """Physical [_stext, _etext) of the crashed kernel."""
    with open(vmlinux, "rb") as f:
        symtab = ELFFile(f).get_section_by_name(".symtab")
        stext = symtab.get_symbol_by_name("_stext")[0]["st_value"]
        etext = symtab.get_symbol_by_name("_etext")[0]["st_value"]
    phys_base = int(vmcoreinfo.get("NUMBER(phys_base)", "0"))
    return stext - START_KERNEL_MAP + phys_base, etext - START_KERNEL_MAP + phys_base


def test_panic_is_captured_after_one_warm_reset_and_opens_in_crash(lab, tmp_path):
    (lab.logs / f"{lab.name}-crash.txt").unlink(missing_ok=True)
    lab.configure(CAPTURE="payload")
    vm = lab.start()
    with vm:
        boot_to_os(lab, vm)
        mem_before = int(
            lab.shell(vm, "grep MemTotal /proc/meminfo", r"MemTotal:\s+(\d+) kB").group(1)
        )
        known_before = re.findall(r"Memory: \d+K/(\d+)K available", vm.output)[-1]
        release = lab.shell(vm, 'echo "REL $(uname -r)"', r"REL (\S+)").group(1)
        marker = secrets.token_hex(32)  # 32 random bytes, as hex
        vm.send(f"echo {marker} > /dev/kmsg\n")
        vm.wait_for(marker, 30)
        # Freeze the guest, snapshot its RAM from the host, then let it panic.
        vm.send("sleep 3; echo c > /proc/sysrq-trigger\n")
        vm.wait_for("echo c > /proc/sysrq-trigger", 10)
        vm.monitor("stop")
        snap_file = tmp_path / "before-panic.ram"
        vm.monitor(f'pmemsave 0 {GUEST_RAM_BYTES:#x} "{snap_file}"', timeout=120)
        vm.monitor("cont")
        vm.wait_for("Kernel panic", 60)
        panicked = vm.elapsed()
        after_panic = len(vm.output)
        vm.wait_for(re.compile(r"warmboot: crash dump saved in (/crash/\S+)"), 600)
        wait_os_ready(vm)
        ready = vm.elapsed()
        mem_after = int(
            lab.shell(vm, "grep MemTotal /proc/meminfo", r"MemTotal:\s+(\d+) kB").group(1)
        )
        rest = vm.output[after_panic:]
        known_after = re.findall(r"Memory: \d+K/(\d+)K available", rest)[-1]
    print(f"panic to OS ready: {ready - panicked:.1f} s")

    # Exactly one warm reset, and the OS got all of its RAM back.
    assert count(rest, BANNER) == 1, "coreboot booted more than once after the panic"
    assert "warmboot: PMT generation" in rest and "accepted" in rest
    # The OS knows the same RAM as on its normal boot; MemTotal moves by a page
    # or two with where kexec placed the initramfs.
    assert known_after == known_before
    assert abs(mem_after - mem_before) <= 16, (mem_before, mem_after)
    print(f"MemTotal: normal boot {mem_before} kB, after the capture {mem_after} kB")

    (directory,) = lab.crash_dirs()
    assert lab.crash_files(directory) == ["summary.txt", "vmcore"]
    vmcore = lab.extract(f"/crash/{directory}/vmcore", tmp_path / "vmcore")

    # The inspector: the kernel's release, one NT_PRSTATUS per CPU.
    info = read_vmcore(vmcore)
    assert info.vmcoreinfo["OSRELEASE"] == release
    assert "CRASHTIME" in info.vmcoreinfo
    assert len(info.cpus) == lab.board.qemu.smp

    # crash(8): the marker in the log, and the panicking task's backtrace.
    log = run_crash(lab, vmcore, tmp_path, "log\n")
    assert marker in log, f"marker not in crash's log; see {lab.crash_log}"
    bt = run_crash(lab, vmcore, tmp_path, "bt\n")
    frames = re.findall(r"#\d+ \[[0-9a-f]+\] (\w+) at", bt)
    assert frames[frames.index("panic") :][:2] == ["panic", "__handle_sysrq"], bt
    # sysrq_handle_crash ends with its noreturn call to panic, so its return
    # address is the first byte after it, which crash 8.0.2 names after the
    # next function. Resolved as a return address (minus one), it is there:
    returns = re.findall(r"\] \w+ at ([0-9a-f]+)", run_crash(lab, vmcore, tmp_path, "bt -t\n"))
    syms = run_crash(lab, vmcore, tmp_path, "".join(f"sym {int(a, 16) - 1:x}\n" for a in returns))
    assert re.search(r"\(t\) sysrq_handle_crash\+\d+", syms), syms[-2000:]
    # gdb, which unwinds with vmlinux's DWARF, shows the frame directly.
    gdb = subprocess.run(
        ["gdb", "-batch", "-ex", "thread apply all bt 8", str(lab.images.vmlinux), str(vmcore)],
        capture_output=True,
        text=True,
        timeout=300,
    ).stdout
    assert re.search(r"in sysrq_handle_crash \(", gdb), gdb[-3000:]

    # Every preserved region matches the host's snapshot taken before the panic,
    # except the pages the panic path itself wrote (stacks, log, crash notes).
    snapshot = snap_file.read_bytes()
    diffs = page_differences(vmcore, snapshot)
    total_pages = sum(size // PAGE for _, size in diffs)
    changed = sum(diffs.values())
    print(f"pages changed between the snapshot and the vmcore: {changed} of {total_pages}")
    assert changed <= total_pages // 100, diffs
    # The kernel's text lies in the boot window, which firmware copied away and
    # reused: its bytes in the vmcore come from the copy, and match exactly.
    start, end = kernel_text(lab.images.vmlinux, info.vmcoreinfo)
    assert read_paddr(vmcore, info, start, end - start) == snapshot[start:end]
