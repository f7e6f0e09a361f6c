"""The parser on real coreboot tables: boot coreboot in QEMU q35, dump the
guest's memory, and find the tables coreboot 4.15 wrote."""

from __future__ import annotations

import itertools
import shutil

import pytest

from warmboot.handoff.cbtable import LbMemType, find_table
from warmboot.handoff.physmem import ElfCoreMemory, FileImage
from warmboot.qemu import QemuMachine

GUEST_RAM = 512 << 20
CBMEM_ID_CBTABLE = int.from_bytes(b"CBTB", "big")
LOW_FORWARD = 0x500  # coreboot's FORWARDING_TABLE_ADDR on x86

pytestmark = pytest.mark.qemu


@pytest.fixture(scope="module")
def q35_memory(q35_coreboot_rom, tmp_path_factory):
    """(raw pmemsave image of all guest RAM, QEMU's ELF dump-guest-memory)
    once coreboot has written its tables (it stops: there is no payload)."""
    if not shutil.which("qemu-system-x86_64"):
        pytest.skip("qemu-system-x86_64 is not installed (Debian package qemu-system-x86)")
    work = tmp_path_factory.mktemp("q35")
    raw, elf = work / "ram.raw", work / "ram.elf"
    command = [
        "qemu-system-x86_64",
        "-M",
        "q35",
        "-m",
        f"{GUEST_RAM >> 20}M",
        "-nodefaults",
        "-display",
        "none",
        "-no-reboot",
        "-bios",
        str(q35_coreboot_rom),
    ]
    with QemuMachine(command, work / "serial.log", work / "monitor") as machine:
        machine.wait_for("Payload not loaded", timeout=60)
        machine.monitor(f'pmemsave 0 {GUEST_RAM:#x} "{raw}"')
        machine.monitor(f"dump-guest-memory {elf}", timeout=60)
    yield raw, elf
    shutil.rmtree(work)  # a gigabyte of dumps: do not leave it for pytest's retention


def test_real_table_is_found_through_the_low_forward_record(q35_memory):
    raw, _ = q35_memory
    with FileImage(raw) as memory:
        table = find_table(memory)
    assert table.forwarded_from == (LOW_FORWARD,)
    assert table.address > 1 << 20  # the real table lives in CBMEM


def test_real_memory_map_covers_guest_ram_and_cbmem(q35_memory):
    raw, _ = q35_memory
    with FileImage(raw) as memory:
        table = find_table(memory)
    below_ram = sorted(
        (r for r in table.memory_ranges if r.start < GUEST_RAM), key=lambda r: r.start
    )
    # The map tiles all of guest RAM, from 0 to its end, without gaps.
    assert below_ram[0].start == 0 and below_ram[-1].end == GUEST_RAM
    assert all(a.end == b.start for a, b in itertools.pairwise(below_ram))
    usable = sum(r.size for r in below_ram if r.type == LbMemType.RAM)
    assert usable > GUEST_RAM * 9 // 10
    # Every CBMEM area lies in a CONFIGURATION TABLES (LB_MEM_TABLE) range.
    tables = [r for r in below_ram if r.type == LbMemType.TABLE]
    assert table.cbmem_entries
    for entry in table.cbmem_entries:
        assert any(
            r.start <= entry.address and entry.address + entry.entry_size <= r.end for r in tables
        ), f"CBMEM {entry.id:#x} at {entry.address:#x}"
    # ... including the CBMEM area that holds this very table.
    holder = next(e for e in table.cbmem_entries if e.id == CBMEM_ID_CBTABLE)
    assert holder.address == table.address


def test_qemu_elf_dump_reads_the_same_table(q35_memory):
    raw, elf = q35_memory
    with FileImage(raw) as memory:
        from_raw = find_table(memory)
    with ElfCoreMemory(elf) as memory:
        from_elf = find_table(memory)
    assert from_elf == from_raw


def test_cli_prints_the_real_table(q35_memory, warmboot_main, capsys):
    raw, _ = q35_memory
    assert warmboot_main(["handoff", "cbtable", str(raw)]) == 0
    out = capsys.readouterr().out
    assert f"(forwarded from {LOW_FORWARD:#x})" in out
    assert "memory 0x000000100000-0x" in out and " RAM" in out
