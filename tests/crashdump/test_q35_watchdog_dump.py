"""A CPU hung with interrupts off: the TCO watchdog's first timeout enters SMM,
coreboot saves every CPU's registers into the PMT and warm-resets, and the
next boot's vmcore shows where the CPU hung. A table whose register save area
lies in SMRAM or over other firmware data is refused, and SMM writes nothing."""

from __future__ import annotations

import dataclasses
import re
import subprocess

import pytest

from crashlab import (
    BANNER,
    HEARTBEAT,
    boot_to_os,
    count,
    hang_cpu1_under_the_watchdog,
    run_crash,
    symbol_range,
    wait_os_ready,
)
from warmboot import pmt as pmtlib
from warmboot.vmcore.reader import read_vmcore

pytestmark = pytest.mark.qemu


def test_watchdog_reset_leaves_the_hung_cpus_rip_in_the_vmcore(lab, tmp_path):
    (lab.logs / f"{lab.name}-crash.txt").unlink(missing_ok=True)
    lab.configure(CAPTURE="payload")
    vm = lab.start()
    with vm:
        boot_to_os(lab, vm)
        release = lab.shell(vm, 'echo "REL $(uname -r)"', r"REL (\S+)").group(1)
        hung = hang_cpu1_under_the_watchdog(vm)
        mark = len(vm.output)
        vm.wait_for("warmboot: SMM: watchdog fired; saved 2 CPUs' registers", 3 * HEARTBEAT)
        fired = vm.elapsed()
        vm.wait_for(re.compile(r"warmboot: crash dump saved in (/crash/\S+)"), 600)
        wait_os_ready(vm)
        ready = vm.elapsed()
        status = lab.shell(
            vm, "pmtctl status | sed -n 's/^  this boot: /BOOT: /p'", r"BOOT: (flags .*)"
        ).group(1)
        rest = vm.output[mark:]
    print(f"hang to watchdog SMI {fired - hung:.1f} s, hang to OS ready {ready - hung:.1f} s")
    assert count(rest, BANNER) == 1
    assert "reset WATCHDOG" in status, status

    (directory,) = lab.crash_dirs()
    vmcore = lab.extract(f"/crash/{directory}/vmcore", tmp_path / "vmcore")
    info = read_vmcore(vmcore)
    # Registers from SMM are the only source: no kernel crash path ran.
    assert info.vmcoreinfo["OSRELEASE"] == release
    assert "CRASHTIME" not in info.vmcoreinfo
    assert len(info.cpus) == 2
    start, end = symbol_range(lab.images.vmlinux, "lkdtm_HARDLOCKUP")
    hung_cpus = [c for c in info.cpus if start <= c.pc < end]
    assert hung_cpus, [hex(c.pc) for c in info.cpus]
    print(
        f"hung CPU: RIP {hung_cpus[0].pc:#x} in lkdtm_HARDLOCKUP "
        f"[{start:#x}, {end:#x}), RSP {hung_cpus[0].sp:#x}"
    )

    # crash(8): bt -a walks every CPU's active task. crash 8.0.2 unwinds an
    # active task from its ELF registers only when it is the panic task (a
    # kdump leaves the other CPUs' registers on their NMI stacks instead), so
    # it is given the hung CPU's saved RIP and RSP, as a user would: from
    # there it walks the LKDTM call chain that led into the hang.
    bt_all = run_crash(lab, vmcore, tmp_path, "bt -a")
    pid = re.search(r"PID: (\d+)\s+TASK: \S+\s+CPU: 1 ", bt_all).group(1)
    hung = hung_cpus[0]
    bt = run_crash(lab, vmcore, tmp_path, f"bt -I {hung.pc:x} -S {hung.sp:x} {pid}")
    frames = re.findall(r"#\d+ \[([0-9a-f]+)\] (\w+) at", bt)
    assert frames[0] == (f"{hung.sp:x}", "lkdtm_do_action"), bt
    assert "direct_entry" in [name for _, name in frames], bt
    # gdb takes each CPU's registers from its NT_PRSTATUS as they are.
    gdb = subprocess.run(
        ["gdb", "-batch", "-ex", "thread apply all bt 4", str(lab.images.vmlinux), str(vmcore)],
        capture_output=True,
        text=True,
        timeout=300,
    ).stdout
    # (cpu_relax() is inlined into the spin loop: frames #0-#1 are its inlines.)
    assert re.search(
        r"#0  0x[0-9a-f]+ in rep_nop .*\n#1  cpu_relax .*\n#2  lkdtm_HARDLOCKUP \(\)", gdb
    ), gdb[-3000:]


def armed_table(vm) -> bytes:
    """The table the OS armed, read from guest memory by the host."""
    anchor = int(re.search(r"warmboot: PMT anchor at (0x[0-9a-f]+)", vm.output).group(1), 16)
    path = vm.log_path.with_suffix(".anchor")
    vm.monitor("stop")
    vm.monitor(f'pmemsave {anchor:#x} 0x8000 "{path}"')
    vm.monitor("cont")
    data = path.read_bytes()
    path.unlink()
    return data[: int.from_bytes(data[24:28], "little")]


def move_cpu_state(table: bytes, where) -> bytes:
    t = pmtlib.decode(table)
    base = where(t)
    entries = tuple(
        dataclasses.replace(e, base=base) if e.type == pmtlib.EntryType.CPU_STATE else e
        for e in t.entries
    )
    return pmtlib.encode(dataclasses.replace(t, entries=entries, cpu_state_addr=base))


@pytest.mark.parametrize(
    "case, where, reason",
    [
        ("smram", lambda t: 0xA0000, "CPU_STATE in forbidden memory"),
        ("over-the-table", lambda t: t.table_addr, "overlapping entries"),
    ],
)
def test_cpu_state_in_forbidden_memory_is_refused_and_smm_writes_nothing(
    lab, tmp_path, case, where, reason
):
    vm = lab.start()
    with vm:
        boot_to_os(lab, vm)
        bad = move_cpu_state(armed_table(vm), where)
    (tmp_path / "bad.bin").write_bytes(bad)
    lab.put(tmp_path / "bad.bin", "/bad.bin")

    vm = lab.start()
    with vm:
        boot_to_os(lab, vm)
        lab.shell(
            vm,
            "mount -t ext2 /dev/vda /mnt && pmtctl write-raw /mnt/bad.bin && "
            'umount /mnt && echo WRIT""TEN',
            r"WRITTEN",
        )
        mark = len(vm.output)
        hang_cpu1_under_the_watchdog(vm)
        vm.wait_for(f"warmboot: SMM: watchdog fired; PMT rejected: {reason}", 3 * HEARTBEAT)
        # Nothing saved, so no early reset: the second timeout resets the machine.
        vm.wait_for(BANNER, 3 * HEARTBEAT)
        vm.wait_for(f"warmboot: PMT rejected: {reason}", 60)
        vm.wait_for("warmboot: linuxboot ready", 120)
        after = armed_table(vm)  # before the OS re-arms
        wait_os_ready(vm)
        rest = vm.output[mark:]
    assert "warmboot: SMM: CPU" not in rest and "crash dump" not in rest
    assert lab.crash_dirs() == []
    # SMM wrote no register record over the table: every byte the OS owns is
    # as it wrote it (the CRC covers exactly those; firmware set only its own
    # status fields).
    assert len(after) == len(bad)
    stored_crc = int.from_bytes(after[28:32], "little")
    assert pmtlib.compute_crc(after) == stored_crc == pmtlib.compute_crc(bad)
