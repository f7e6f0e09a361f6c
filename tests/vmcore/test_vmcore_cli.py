"""`warmboot vmcore info` and `warmboot vmcore capture`, run as a user would."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from crash_samples import BOOT_COPY_BASE, P0_BASE, P1_BASE, build_crashed_machine
from warmboot.cli import main
from warmboot.handoff.cbtable import (
    ForwardRecord,
    LbMemType,
    MemoryRange,
    MemoryRecord,
    encode_table,
)
from warmboot.handoff.emit_cli import pmt_record
from warmboot.vmcore.elfcore import machine_layout

LOW_TABLE, HIGH_TABLE = 0x500, 0x3F0000


def machine_image(tmp_path, with_record=True):
    """The crashed machine's memory as a raw image, with coreboot's low
    forwarding table and a CBMEM-style table carrying the PMT record."""
    machine = build_crashed_machine()
    mem = bytearray(machine.memory.data)
    records = [MemoryRecord((MemoryRange(0, len(mem), LbMemType.RAM),))]
    if with_record:
        records.append(pmt_record(machine.table))
    high = encode_table(records)
    mem[HIGH_TABLE : HIGH_TABLE + len(high)] = high
    low = encode_table([ForwardRecord(HIGH_TABLE)])
    mem[LOW_TABLE : LOW_TABLE + len(low)] = low
    image = tmp_path / "memory.img"
    image.write_bytes(mem)
    return machine, image


def test_capture_finds_the_pmt_through_the_coreboot_table_and_info_shows_it(tmp_path, capsys):
    machine, image = machine_image(tmp_path)
    core = tmp_path / "vmcore"
    assert main(["vmcore", "capture", str(image), "-o", str(core)]) == 0
    captured = capsys.readouterr()
    assert "cpu 2: no saved registers" in captured.err
    assert f"{core}: " in captured.out

    assert main(["vmcore", "info", "--json", str(core)]) == 0
    info = json.loads(capsys.readouterr().out)
    layout = machine_layout(machine.table.e_machine)
    assert info["machine"] == "x86_64"
    assert [(c["pid"], int(c["pc"], 16), int(c["sp"], 16)) for c in info["cpus"]] == [
        (pid, regs[layout.pc_index], regs[layout.sp_index])
        for pid, regs in zip(machine.cpu_pids, machine.cpu_regs, strict=True)
    ]
    assert info["vmcoreinfo"]["OSRELEASE"] == "6.1.0-warmboot-test"
    assert [int(r["paddr"], 16) for r in info["regions"]] == [BOOT_COPY_BASE, P0_BASE, P1_BASE]


def test_info_text_names_machine_cpus_keys_and_regions(tmp_path, capsys):
    _, image = machine_image(tmp_path)
    core = tmp_path / "vmcore"
    main(["vmcore", "capture", str(image), "-o", str(core)])
    capsys.readouterr()
    assert main(["vmcore", "info", str(core)]) == 0
    text = capsys.readouterr().out
    assert "x86_64 (e_machine 62)" in text
    assert "cpu 1: pid 4242  pc 0xffffffff81002010  sp 0xffffc90000006000" in text
    assert "  OSRELEASE=6.1.0-warmboot-test" in text
    assert "  PAGESIZE=4096" in text
    assert "  KERNELOFFSET=0" in text
    assert "paddr 0x0000000000010000  vaddr 0xffff888000010000  size 0x8000" in text


def test_capture_without_a_pmt_record_says_so(tmp_path, capsys):
    _, image = machine_image(tmp_path, with_record=False)
    assert main(["vmcore", "capture", str(image), "-o", str(tmp_path / "out")]) == 1
    assert "no warmboot PMT record" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_capture_at_an_explicit_pmt_address(tmp_path, capsys):
    machine, image = machine_image(tmp_path, with_record=False)
    core = tmp_path / "vmcore"
    assert (
        main(
            [
                "vmcore",
                "capture",
                str(image),
                "-o",
                str(core),
                "--pmt-addr",
                hex(machine.table.table_addr),
            ]
        )
        == 0
    )


@pytest.mark.parametrize(
    "content, message",
    [
        (b"hello, not an ELF file at all, but long enough to be read" * 2, "Magic number"),
        (b"\x7fELF", "too short for an ELF64 header"),
    ],
)
def test_info_rejects_non_vmcores_in_one_line(tmp_path, content, message):
    bad = tmp_path / "bad"
    bad.write_bytes(content)
    result = subprocess.run(
        [sys.executable, "-m", "warmboot.cli", "vmcore", "info", str(bad)],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1 and message in result.stderr
    assert "Traceback" not in result.stderr


def test_info_rejects_a_truncated_vmcore_and_a_non_core(tmp_path, capsys):
    _, image = machine_image(tmp_path)
    core = tmp_path / "vmcore"
    main(["vmcore", "capture", str(image), "-o", str(core)])
    truncated = tmp_path / "truncated"
    truncated.write_bytes(core.read_bytes()[:0x3000])
    capsys.readouterr()
    assert main(["vmcore", "info", str(truncated)]) == 1
    assert "past the file's 0x3000 bytes (truncated)" in capsys.readouterr().err
    assert main(["vmcore", "info", sys.executable]) == 1
    assert "not ET_CORE" in capsys.readouterr().err
