"""The SMM TOCTOU attack of issue 16, end to end: a program on CPU 1
(smm_racer.c) waits until the SMM watchdog handler has marked slot 0 VALID,
which means its check of the table passed, and then moves cpu_state_addr so
that the next slot lands on a fake record it planted in the anchor's first
half. QEMU pauses the machine at the handler's reset, and the host compares
firmware-reserved memory (the CBMEM band, CBMEM, the anchor) before and
after: the SMM handler may have written only the CPU_STATE range the table
had when it was checked, and the WDT_FIRED bit of the table's flags."""

from __future__ import annotations

import re
import struct
import subprocess
import time

import pytest
from elftools.elf.elffile import ELFFile

from crashlab import GUEST_RAM_BYTES, boot_to_os
from warmboot import pmt as pmtlib
from wbtest import TOP

pytestmark = pytest.mark.qemu

RACER = TOP / "tests" / "crashdump" / "smm_racer.c"
HEARTBEAT = 10  # iTCO_wdt.heartbeat on the test OS's command line
BAND = 0x200000  # CONFIG_WARMBOOT_CBMEM_BAND
FAKE_OFF, REPORT_OFF = 0x4000, 0x6000  # smm_racer.c
FLAGS_OFF, CPU_STATE_ADDR_OFF = 40, 104
RECORD = struct.Struct("<IHHIHHQQ34Q8Q2Q")  # struct pmt_cpu_record_v1
FLAGS, CPU_ID, RIP = 3, 6, 8 + 16  # its fields' indices (gregs[16] is RIP)


def build_racer(tmp_path):
    binary = tmp_path / "smm_racer"
    subprocess.run(
        ["gcc", "-static", "-O2", "-Wall", "-Wextra", "-Werror", "-o", str(binary), str(RACER)],
        check=True,
    )
    with open(binary, "rb") as f:
        sym = ELFFile(f).get_section_by_name(".symtab").get_symbol_by_name("race")[0]
    return binary, range(sym["st_value"], sym["st_value"] + sym["st_size"])


def snapshot(vm, path, start: int, size: int) -> bytes:
    vm.monitor(f'pmemsave {start:#x} {size:#x} "{path}"')
    data = path.read_bytes()
    path.unlink()
    return data


def wait_paused(vm, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if "paused" in vm.monitor("info status"):
            return
        time.sleep(0.2)
    raise AssertionError("the machine did not reset (QEMU never paused)\n" + vm.output[-3000:])


def records(data: bytes, at: int, count: int, size: int) -> list[tuple]:
    return [RECORD.unpack_from(data, at + i * size) for i in range(count)]


def changed_ranges(before: bytes, after: bytes, base: int) -> list[tuple[int, int]]:
    """[start, end) physical ranges whose bytes differ."""
    out: list[tuple[int, int]] = []
    i, n = 0, len(before)
    while i < n:
        if before[i] == after[i]:
            i += 1
            continue
        j = i
        while j < n and before[j] != after[j]:
            j += 1
        out.append((base + i, base + j))
        i = j
    return out


def test_a_racing_cpu_cannot_make_smm_write_outside_cpu_state(lab, tmp_path):
    racer, race_code = build_racer(tmp_path)
    lab.put(racer, "/smm_racer")
    # Pause at the reset the SMM handler ends with, memory as SMM left it.
    vm = lab.start(qemu_args=("-action", "reboot=shutdown,shutdown=pause"))
    with vm:
        boot_to_os(lab, vm)
        anchor = int(re.search(r"warmboot: PMT anchor at (0x[0-9a-f]+)", vm.output).group(1), 16)
        top = GUEST_RAM_BYTES  # all of a 512 MiB q35 guest is low RAM
        start, size = top - BAND, BAND
        assert start <= anchor < top
        raw = snapshot(vm, tmp_path / "t", anchor, 0x4000)
        table = pmtlib.decode(raw[: int.from_bytes(raw[24:28], "little")])
        cs_base, cs_size = table.cpu_state_addr, table.cpu_state_size
        rec_size, cpus = table.cpu_record_size, table.cpu_count
        assert cpus == 2 and cs_base == anchor + 0x8000
        # The OS mounts its disk at /var/crash.
        vm.send(f"/var/crash/smm_racer {anchor:#x} &\n")
        ready = vm.wait_for(re.compile(r"RACER: ready on CPU (\d+).*-> (0x[0-9a-f]+)"), 30)
        assert ready.group(1) == "1"

        vm.monitor("stop")
        before = snapshot(vm, tmp_path / "before", start, size)
        vm.monitor("cont")
        vm.send('exec 3>/dev/watchdog; echo WATCHDOG-""OPEN\n')
        vm.wait_for_line("WATCHDOG-OPEN", 30)
        vm.wait_for("warmboot: SMM: watchdog fired", 3 * HEARTBEAT)
        wait_paused(vm, 3 * HEARTBEAT)
        after = snapshot(vm, tmp_path / "after", start, size)
        console = vm.output

    a = anchor - start
    report = after[a + REPORT_OFF : a + REPORT_OFF + 32]
    hit = report[:8] == b"RACEHIT!"
    spins, moved_to, slot0_flags = struct.unpack_from("<QQQ", report, 8)
    saved = records(after, a + (cs_base - anchor), cpus, rec_size)
    print(
        f"race window hit: {hit}"
        + (
            f" after {spins} spins, cpu_state_addr moved to "
            f"{moved_to:#x} (slot 0 flags {slot0_flags:#x})"
            if hit
            else ""
        )
    )
    for rec in saved:
        print(f"slot cpu_id {rec[CPU_ID]} flags {rec[FLAGS]:#x} RIP {rec[RIP]:#x}")

    # The attack ran: the racer was spinning on CPU 1 when the SMI came, and
    # either it moved the pointer while SMM ran or SMM had already stopped it.
    cpu1 = next(rec for rec in saved if rec[CPU_ID] == 1)
    assert cpu1[FLAGS] & 1 or hit, "CPU 1's registers were not saved"
    assert hit or cpu1[RIP] in race_code, f"CPU 1 was not in the racer: RIP {cpu1[RIP]:#x}"

    # What may differ: the racer's own writes (the pointer it moved, its
    # report), the CPU_STATE range checked before the race, and the flags
    # word's WDT_FIRED bit.
    allowed = [(cs_base, cs_base + cs_size), (anchor + REPORT_OFF, anchor + REPORT_OFF + 32)]
    if hit:
        allowed.append((anchor + CPU_STATE_ADDR_OFF, anchor + CPU_STATE_ADDR_OFF + 8))
    outside = [
        (s, e)
        for s, e in changed_ranges(before, after, start)
        if not any(lo <= s and e <= hi for lo, hi in allowed)
        and (s, e) != (anchor + FLAGS_OFF + 2, anchor + FLAGS_OFF + 3)
    ]
    flags_before = struct.unpack_from("<I", before, a + FLAGS_OFF)[0]
    flags_after = struct.unpack_from("<I", after, a + FLAGS_OFF)[0]
    assert flags_after == flags_before | pmtlib.PmtFlags.WDT_FIRED
    fake = after[a + FAKE_OFF : a + FAKE_OFF + rec_size]
    assert not outside, (
        f"SMM wrote outside CPU_STATE [{cs_base:#x}, {cs_base + cs_size:#x}): "
        + ", ".join(f"[{s:#x}, {e:#x})" for s, e in outside)
        + f"; the fake record at {anchor + FAKE_OFF:#x} has flags "
        f"{struct.unpack_from('<I', fake, 8)[0]:#x}"
    )
    assert all(rec[FLAGS] & 1 for rec in saved), "a CPU's record was not saved"
    assert "saved 2 CPUs' registers" in console
