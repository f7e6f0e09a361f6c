"""qemu-virt (aarch64), the capture in LinuxBoot (CAPTURE=payload): a panic
in the OS leads to exactly one warm reset (the kernel driver's PSCI
SYSTEM_RESET through TF-A, after it wrote the reset mailbox); coreboot keeps
the registered memory and hands it over in the device tree; LinuxBoot writes
a vmcore whose aarch64 NT_PRSTATUS notes gdb-multiarch, crash(8) built for
arm64 from Debian's source and the Python inspector read, and boots the OS,
whose driver gives the kept memory back: no second reset."""

from __future__ import annotations

import re
import secrets

import libfdt
import pytest
from elftools.elf.elffile import ELFFile

from crashlab import (
    BANNER,
    PAGE,
    boot_to_os,
    count,
    function_at,
    gdb_aarch64_backtraces,
    page_differences,
    read_paddr,
    run_crash,
    wait_os_ready,
)
from warmboot import pmt as pmtlib
from warmboot.handoff import devicetree
from warmboot.vmcore.reader import read_vmcore

pytestmark = pytest.mark.qemu

DRAM = 0x40000000
BOOT_TIMEOUT = 600  # TCG: firmware, LinuxBoot and the OS, emulated


def guest_bytes(vm, tmp_path, addr: int, size: int, name: str) -> bytes:
    path = tmp_path / name
    vm.monitor(f'pmemsave {addr:#x} {size:#x} "{path}"', timeout=120)
    return path.read_bytes()


def fdt_in_guest(vm, tmp_path, addr: int) -> libfdt.Fdt:
    head = guest_bytes(vm, tmp_path, addr, 64, "fdt-head.bin")
    size = int.from_bytes(head[4:8], "big")
    return libfdt.Fdt(guest_bytes(vm, tmp_path, addr, size, "fdt.dtb"))


def reserved_nodes(fdt: libfdt.Fdt, prefix: str) -> set[tuple]:
    """(name, base, size, copy-of, no-map) of /reserved-memory children named prefix*."""
    rmem = fdt.path_offset("/reserved-memory")
    out = set()
    node = fdt.first_subnode(rmem, libfdt.QUIET_NOTFOUND)
    while node >= 0:
        name = fdt.get_name(node)
        if name.startswith(prefix):
            reg = bytes(fdt.getprop(node, "reg"))
            copy = fdt.getprop(node, "warmboot,copy-of", libfdt.QUIET_NOTFOUND)
            nomap = fdt.getprop(node, "no-map", libfdt.QUIET_NOTFOUND)
            out.add(
                (
                    name,
                    int.from_bytes(reg[:8], "big"),
                    int.from_bytes(reg[8:], "big"),
                    None if isinstance(copy, int) else int.from_bytes(bytes(copy), "big"),
                    not isinstance(nomap, int),
                )
            )
        node = fdt.next_subnode(node, libfdt.QUIET_NOTFOUND)
    return out


def kernel_text(vmlinux, vmcoreinfo: dict) -> tuple[int, int]:
    """Physical [_stext, _etext): arm64's kernel image mapping is vaddr - kimage_voffset."""
    with open(vmlinux, "rb") as f:
        symtab = ELFFile(f).get_section_by_name(".symtab")
        stext = symtab.get_symbol_by_name("_stext")[0]["st_value"]
        etext = symtab.get_symbol_by_name("_etext")[0]["st_value"]
    voffset = int(vmcoreinfo["NUMBER(kimage_voffset)"], 16)
    return stext - voffset, etext - voffset


def stopped_function(vmlinux, cpu) -> str:
    """The function a CPU was stopped in. arm64's arch_local_irq_enable is an
    out-of-line copy in each unit here, and an IPI pending over the idle loop
    is taken the moment it unmasks interrupts: then it is its caller, from the
    link register, that says where the CPU was."""
    name = function_at(vmlinux, cpu.pc)
    if name == "arch_local_irq_enable":
        return function_at(vmlinux, cpu.regs["x30"])
    return name


def test_panic_on_virt_is_captured_after_one_psci_reset_and_read_by_gdb_multiarch(
    virt_lab, tmp_path, crash_arm64_command
):
    lab = virt_lab
    lab.configure(CAPTURE="payload")
    ram_bytes = int(lab.memory.rstrip("G")) << 30
    vm = lab.start()
    with vm:
        boot_to_os(lab, vm, BOOT_TIMEOUT)
        # The kernel's driver found the anchor through the device tree.
        armed = re.findall(r"warmboot: armed generation \d+.*", vm.output)[-1]
        where = lab.shell(vm, "pmtctl status | head -1", r"firmware: (.*)").group(1)
        mem_before = int(
            lab.shell(vm, "grep MemTotal /proc/meminfo", r"MemTotal:\s+(\d+) kB").group(1)
        )
        known_before = re.findall(r"Memory: \d+K/(\d+)K available", vm.output)[-1]
        release = lab.shell(vm, 'echo "REL $(uname -r)"', r"REL (\S+)").group(1)
        marker = secrets.token_hex(32)
        vm.send(f"echo {marker} > /dev/kmsg\n")
        vm.wait_for(marker, 30)
        # The panic on the last CPU; the others are idle when its crash IPI stops them.
        last = lab.board.qemu.smp - 1
        vm.send(f"sleep 3; taskset -c {last} sh -c 'echo c > /proc/sysrq-trigger'\n")
        vm.wait_for("echo c > /proc/sysrq-trigger", 10)
        vm.monitor("stop")
        snapshot = guest_bytes(vm, tmp_path, DRAM, ram_bytes, "before-panic.ram")
        vm.monitor("cont")
        vm.wait_for("Kernel panic", 120)
        panicked = vm.elapsed()
        after_panic = len(vm.output)

        # The capture boot: the tree coreboot built, and the table it judged.
        vm.wait_for("warmboot: linuxboot ready", BOOT_TIMEOUT)
        vm.monitor("stop")
        capture_boot = vm.output[after_panic:]
        fdt_addr = int(re.findall(r"FIT: Flattening FDT to (0x[0-9a-f]+)", capture_boot)[-1], 16)
        anchor = int(re.findall(r"warmboot: PMT anchor at (0x[0-9a-f]+)", capture_boot)[-1], 16)
        fdt = fdt_in_guest(vm, tmp_path, fdt_addr)
        head = guest_bytes(vm, tmp_path, anchor, pmtlib.HEADER_SIZE, "pmt-head.bin")
        table = guest_bytes(vm, tmp_path, anchor, int.from_bytes(head[24:28], "little"), "pmt.bin")
        vm.monitor("cont")

        vm.wait_for(re.compile(r"warmboot: crash dump saved in (/crash/\S+)"), 1200)
        captured, captured_at = len(vm.output), vm.elapsed()
        vm.wait_for("warmboot: booting the OS", 120)
        vm.wait_for(re.compile(r"warmboot: gave back \d+ MiB the firmware kept"), BOOT_TIMEOUT)
        vm.wait_for("warmboot: os armed", BOOT_TIMEOUT)
        wait_os_ready(vm)
        ready = vm.elapsed()
        mem_after = int(
            lab.shell(vm, "grep MemTotal /proc/meminfo", r"MemTotal:\s+(\d+) kB").group(1)
        )
        rest = vm.output[after_panic:]
        to_capture = vm.output[after_panic:captured]
        known_after = re.findall(r"Memory: \d+K/(\d+)K available", rest)[-1]
    print(
        f"panic to capture: {captured_at - panicked:.1f} s; panic to OS ready: "
        f"{ready - panicked:.1f} s"
    )
    print(armed)

    assert "with the device tree" in armed, armed
    assert where.startswith("device tree /chosen"), where
    # Exactly one warm reset before the capture, and firmware accepted the table.
    assert count(to_capture, BANNER) == 1, "coreboot booted more than once before the capture"
    assert "warmboot: reset mailbox at" in to_capture
    assert re.search(r"warmboot: PMT generation \d+ accepted", to_capture)
    # No second reset: the OS boots with the RAM it had, given back by its driver.
    assert count(rest, BANNER) == 1
    assert "warmboot: resetting to give the OS all of its memory" not in rest
    assert known_after == known_before
    assert abs(mem_after - mem_before) <= 64, (mem_before, mem_after)
    print(f"MemTotal: normal boot {mem_before} kB, after the capture {mem_after} kB")

    # The device tree LinuxBoot booted with is the binding's, for this table.
    processed = pmtlib.decode(table)
    expected = devicetree.handoff_from_pmt(processed)
    chosen = fdt.path_offset("/chosen")
    pmt_prop = bytes(fdt.getprop(chosen, "warmboot,pmt"))
    assert (int.from_bytes(pmt_prop[:8], "big"), int.from_bytes(pmt_prop[8:], "big")) == (
        expected.pmt_addr,
        expected.pmt_size,
    )
    status = bytes(fdt.getprop(chosen, "warmboot,pmt-status"))
    assert (
        tuple(int.from_bytes(status[i : i + 4], "big") for i in range(0, 16, 4)) == expected.status
    )
    assert reserved_nodes(fdt, "warmboot-p") | reserved_nodes(fdt, "warmboot-boot") == {
        (r.node_name, r.base, r.size, r.copy_of, False) for r in expected.regions
    }
    assert all(nomap for *_, nomap in reserved_nodes(fdt, "warmboot-firmware"))

    (directory,) = lab.crash_dirs()
    assert lab.crash_files(directory) == ["summary.txt", "vmcore"]
    vmcore = lab.extract(f"/crash/{directory}/vmcore", tmp_path / "vmcore")

    # The inspector: an aarch64 core, the kernel's release, one NT_PRSTATUS per CPU.
    info = read_vmcore(vmcore)
    assert info.e_machine == 183
    assert info.vmcoreinfo["OSRELEASE"] == release
    assert "CRASHTIME" in info.vmcoreinfo
    assert len(info.cpus) == lab.board.qemu.smp
    # Each CPU's NT_PRSTATUS holds its own registers: the panicking CPU's PC in
    # the driver's panic notifier (crash_setup_regs), every other CPU's where
    # IPI_CPU_CRASH_STOP interrupted it, the idle loop (pid 0, swapper).
    stopped_in = [(cpu.pid, stopped_function(lab.images.vmlinux, cpu)) for cpu in info.cpus]
    print("each CPU's pid and function:", stopped_in)
    assert stopped_in[last][1] == "warmboot_panic" and stopped_in[last][0] != 0, stopped_in
    idle = {"arch_cpu_idle", "cpu_do_idle", "default_idle_call"}
    others = stopped_in[:last] + stopped_in[last + 1 :]
    assert all(pid == 0 and name in idle for pid, name in others), stopped_in

    # gdb-multiarch unwinds the panicking CPU from its NT_PRSTATUS with vmlinux's DWARF.
    backtraces = gdb_aarch64_backtraces(lab, vmcore)
    assert re.search(r"in sysrq_handle_crash \(", backtraces), backtraces[-3000:]
    assert re.search(r"in panic \(", backtraces), backtraces[-3000:]
    # crash(8) built for arm64 from Debian's source: the panic and the marker in
    # the kernel's log, and the panicking task's backtrace through the sysrq handler.
    crash = crash_arm64_command
    (lab.logs / f"{lab.name}-crash.txt").unlink(missing_ok=True)
    log = run_crash(lab, vmcore, tmp_path, "log\n", crash)
    assert "Kernel panic - not syncing: sysrq triggered crash" in log, f"see {lab.crash_log}"
    assert marker in log, f"marker not in crash's log; see {lab.crash_log}"
    frames = re.findall(
        r"#\d+ \[[0-9a-f]+\] (\w+) at", run_crash(lab, vmcore, tmp_path, "bt\n", crash)
    )
    assert frames[frames.index("panic") :][:2] == ["panic", "sysrq_handle_crash"], frames
    bt_all = run_crash(lab, vmcore, tmp_path, "bt -a\n", crash)
    assert bt_all.count("PID: ") == lab.board.qemu.smp, f"see {lab.crash_log}"
    assert "sysrq_handle_crash at" in bt_all, f"see {lab.crash_log}"
    # ps finds every task through the pid hash (crash 9 reads this kernel's
    # struct pid; Debian 12's crash 8.0.2 did not, docs/crashdump.md).
    ps = run_crash(lab, vmcore, tmp_path, "ps\n", crash)
    assert "not found in PID hash" not in ps, f"see {lab.crash_log}"
    tasks = dict(re.findall(r"^>?\s+(\d+)\s+\d+\s+\d+\s+[0-9a-f]+\s+\S+\s+.*?(\S+)$", ps, re.M))
    assert tasks.get("2") == "[kthreadd]" and "1" in tasks, tasks
    assert "sh" in tasks.values() and len(tasks) >= 10, tasks
    # The marker written to the kernel log is in the dump's memory.
    with open(vmcore, "rb") as core:
        assert marker.encode() in core.read()

    # Every kept region matches the host's snapshot taken before the panic,
    # except the pages the panic path itself wrote.
    diffs = page_differences(vmcore, snapshot, base=DRAM)
    total_pages = sum(size // PAGE for _, size in diffs)
    changed = sum(diffs.values())
    print(f"pages changed between the snapshot and the vmcore: {changed} of {total_pages}")
    assert changed <= total_pages // 100, diffs
    # The boot window (which LinuxBoot ran in) came back from its copy.
    window = next(r for r in info.regions if r.paddr == 0x60100000)
    assert diffs[(window.paddr, window.size)] <= window.size // PAGE // 100
    start, end = kernel_text(lab.images.vmlinux, info.vmcoreinfo)
    assert read_paddr(vmcore, info, start, end - start) == snapshot[start - DRAM : end - DRAM]
