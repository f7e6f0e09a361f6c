"""dumpcap on memory as firmware leaves it after the warm reset: the vmcore
it writes is checked region by region, CPU by CPU, against readelf and the
Python reference writer, and its failures leave the promised traces."""

from __future__ import annotations

import re
import resource
import subprocess

import pytest

from machines import (
    ANCHOR,
    COPY_BASE,
    COPY_DEST,
    COPY_SIZE,
    CPU_STATE,
    NOTES_ADDR,
    P1_BASE,
    P1_SIZE,
    PAGE,
    PROCESSED,
    SCRIBBLE,
    VMCOREINFO_ADDR,
    crashed_machine,
    read_at,
    write_at,
)
from warmboot import pmt
from warmboot.handoff.physmem import FileImage
from warmboot.pmt import PmtFlags, RejectReason
from warmboot.vmcore.capture import plan_capture
from warmboot.vmcore.elfcore import machine_layout
from warmboot.vmcore.reader import read_vmcore
from warmboot.vmcore.writer import write_vmcore

EXIT_NOTHING, EXIT_ERROR, EXIT_FAILED = 3, 1, 4
X86_64_PAGE_OFFSET = 0xFFFF_8880_0000_0000


@pytest.fixture(scope="module")
def captured(tools, tmp_path_factory):
    """dumpcap's vmcore of the x86_64 machine, copied by 2 workers in 1 MiB chunks."""
    root = tmp_path_factory.mktemp("dumpcap")
    machine = crashed_machine(root)
    out = root / "crash" / "20260101-000000"
    result = tools.run("dumpcap", *machine.args(), "--jobs", "2", "--chunk", "1M", out)
    assert result.returncode == 0, result.stderr
    return machine, out, result


def python_vmcore(machine, path):
    """The reference: warmboot.vmcore's plan and writer on the same memory."""
    with FileImage(machine.mem) as memory, open(path, "wb") as out:
        capture = plan_capture(machine.table, memory)
        write_vmcore(capture.plan, memory, out)
    return path


def test_vmcore_is_byte_identical_to_the_python_writers(captured, tmp_path):
    machine, out, _ = captured
    assert (out / "vmcore").read_bytes() == python_vmcore(machine, tmp_path / "py").read_bytes()


def test_every_region_holds_the_crashed_kernels_bytes(captured):
    machine, out, _ = captured
    info = read_vmcore(out / "vmcore")
    data = (out / "vmcore").read_bytes()
    assert sorted(r.paddr for r in info.regions) == sorted(machine.regions)
    for region in info.regions:
        assert region.offset % 4096 == 0
        assert region.vaddr == X86_64_PAGE_OFFSET + region.paddr
        assert data[region.offset : region.offset + region.size] == machine.regions[region.paddr]


def test_boot_copy_bytes_come_from_dest_and_appear_at_base(captured):
    machine, out, _ = captured
    info = read_vmcore(out / "vmcore")
    region = next(r for r in info.regions if r.paddr == COPY_BASE)
    data = (out / "vmcore").read_bytes()[region.offset : region.offset + COPY_SIZE]
    firmware_scribble = bytes([SCRIBBLE]) * COPY_SIZE
    with open(machine.mem, "rb") as mem:
        mem.seek(COPY_DEST)
        assert data == mem.read(COPY_SIZE) != firmware_scribble
    assert COPY_DEST not in {r.paddr for r in info.regions}


def test_both_cpus_registers_are_in_the_notes(captured):
    machine, out, _ = captured
    info = read_vmcore(out / "vmcore")
    layout = machine_layout(pmt.EM_X86_64)
    assert [c.pid for c in info.cpus] == list(machine.cpu_pids)  # crash notes pid; cpu 1 + 1
    for cpu, regs in zip(info.cpus, machine.cpu_regs, strict=True):
        assert cpu.pc == regs[layout.pc_index] and cpu.sp == regs[layout.sp_index]
        assert tuple(cpu.regs[name] for name in layout.gregs) == regs


def test_readelf_sees_one_note_segment_first_and_the_vmcoreinfo_text(captured):
    machine, out, _ = captured
    program = subprocess.run(
        ["readelf", "-lW", str(out / "vmcore")], capture_output=True, text=True, check=True
    ).stdout
    types = re.findall(r"^\s+(NOTE|LOAD)\s", program, re.M)
    assert types == ["NOTE"] + ["LOAD"] * 4
    notes = subprocess.run(
        ["readelf", "-nW", str(out / "vmcore")], capture_output=True, text=True, check=True
    ).stdout
    assert notes.count("NT_PRSTATUS") == 2
    assert "VMCOREINFO" in notes
    assert read_vmcore(out / "vmcore").vmcoreinfo["CRASHTIME"] == "1700000000"
    text = (out / "vmcore").read_bytes()
    assert machine.vmcoreinfo in text


def test_success_leaves_vmcore_and_summary_and_reports_speed(captured):
    _machine, out, result = captured
    assert sorted(p.name for p in out.iterdir()) == ["summary.txt", "vmcore"]
    size = (out / "vmcore").stat().st_size
    line = result.stdout.strip().splitlines()[-1]
    m = re.fullmatch(
        rf"warmboot: vmcore written {re.escape(str(out / 'vmcore'))} (\d+) bytes "
        r"in ([\d.]+) s \(([\d.]+) MB/s\)",
        line,
    )
    assert m and int(m[1]) == size
    summary = dict(ln.split(": ", 1) for ln in (out / "summary.txt").read_text().splitlines())
    assert summary["machine"] == "x86_64" and summary["cpus"] == "2"
    assert int(summary["bytes"]) == size and summary["generation"] == "5"
    assert summary["reject_reason"] == "NONE" and float(summary["MB/s"]) > 0
    assert "100%" in result.stderr


def test_zero_pages_are_not_written_yet_read_back_as_zeros(tools, tmp_path):
    # Zero runs at P1's start, in its middle (one inside a chunk, one across
    # the boundary between the two 1 MiB chunks) and at its (the file's) end.
    pages = P1_SIZE // 4096
    zero = (0, 1, 100, 255, 256, 257, *range(pages - 3, pages))
    machine = crashed_machine(tmp_path / "m", zero_pages=zero)
    out = tmp_path / "out"
    result = tools.run("dumpcap", *machine.args(), "--jobs", "2", "--chunk", "1M", out)
    assert result.returncode == 0, result.stderr
    vmcore = (out / "vmcore").read_bytes()
    assert vmcore == python_vmcore(machine, tmp_path / "py").read_bytes()
    summary = dict(ln.split(": ", 1) for ln in (out / "summary.txt").read_text().splitlines())
    # Those, and the zero pages the table's own regions have (the anchor's unused part).
    zero_pages = sum(
        data[i : i + 4096] == bytes(4096)
        for data in machine.regions.values()
        for i in range(0, len(data), 4096)
    )
    assert len(zero) < zero_pages
    assert int(summary["zero_page_bytes"]) == zero_pages * 4096
    assert int(summary["bytes"]) == len(vmcore)


def test_aarch64_vmcore_matches_the_python_writer_too(tools, tmp_path):
    machine = crashed_machine(tmp_path / "m", e_machine=pmt.EM_AARCH64)
    out = tmp_path / "out"
    result = tools.run("dumpcap", *machine.args(), "--jobs", "3", out)
    assert result.returncode == 0, result.stderr
    assert (out / "vmcore").read_bytes() == python_vmcore(machine, tmp_path / "py").read_bytes()
    info = read_vmcore(out / "vmcore")
    assert info.machine == "aarch64"
    # (paddr - PHYS_OFFSET) | PAGE_OFFSET for VA_BITS=48, PHYS_OFFSET=0x100000
    assert {r.paddr: r.vaddr for r in info.regions}[P1_BASE] == (
        P1_BASE - 0x100000
    ) | 0xFFFF_0000_0000_0000


def test_a_region_firmware_calls_ram_is_captured_with_a_warning(tools, tmp_path):
    machine = crashed_machine(tmp_path / "m", p1_reserved=False)
    out = tmp_path / "crash"
    result = tools.run("dumpcap", *machine.args(), out)
    assert result.returncode == 0, result.stderr
    assert (
        f"warning: region {P1_BASE:#x}+0x1000000 is RAM in firmware's memory map" in result.stderr
    )
    assert "warnings: 1" in (out / "summary.txt").read_text()


NOTHING = [
    pytest.param(
        {"table_flags": PmtFlags.WARM_RESET_SEEN | PmtFlags.COPY_DONE}, "not armed", id="not-armed"
    ),
    pytest.param(
        {
            "table_flags": PROCESSED | PmtFlags.REJECTED,
            "reject_reason": RejectReason.DEST_IN_FIRMWARE,
        },
        "firmware rejected the PMT (DEST_IN_FIRMWARE)",
        id="rejected",
    ),
    pytest.param(
        {"table_flags": PmtFlags.ARMED | PmtFlags.WARM_RESET_SEEN},
        "no COPY_DONE",
        id="no-copy-done",
    ),
    pytest.param({"record_flags": 0}, "not armed", id="record-says-no-table"),
]


@pytest.mark.parametrize("setup, reason", NOTHING)
def test_nothing_to_capture_exits_3_and_writes_nothing(tools, tmp_path, setup, reason):
    machine = crashed_machine(tmp_path / "m", **setup)
    out = tmp_path / "crash"
    result = tools.run("dumpcap", *machine.args(), out)
    assert result.returncode == EXIT_NOTHING, result.stderr
    assert "nothing to capture: " in result.stderr and reason in result.stderr
    assert not out.exists()


def test_a_table_corrupted_after_firmware_kept_it_is_an_error(tools, tmp_path):
    machine = crashed_machine(tmp_path / "m")
    write_at(machine.mem, ANCHOR + 100, b"\xff")
    result = tools.run("dumpcap", *machine.args(), tmp_path / "crash")
    assert result.returncode == EXIT_ERROR
    assert "now invalid: BAD_CRC" in result.stderr
    assert not (tmp_path / "crash").exists()


def test_memory_ending_inside_a_region_leaves_partial_and_failed(tools, tmp_path):
    machine = crashed_machine(tmp_path / "m")
    with open(machine.mem, "r+b") as mem:
        mem.truncate(P1_BASE + 0x30_0000)  # 3 MiB into the last region
    out = tmp_path / "crash"
    result = tools.run("dumpcap", *machine.args(), "--jobs", "2", "--chunk", "1M", out)
    assert result.returncode == EXIT_FAILED
    assert sorted(p.name for p in out.iterdir()) == ["FAILED", "vmcore.partial"]
    failed = (out / "FAILED").read_text()
    assert "cannot read" in failed and "end of file" in failed
    written, total = map(int, re.search(r"written: (\d+) of (\d+) bytes", failed).groups())
    assert 0 < written < total == (out / "vmcore.partial").stat().st_size
    assert "capture failed" in result.stderr


def test_a_full_disk_leaves_partial_and_failed(tools, tmp_path):
    machine = crashed_machine(tmp_path / "m")
    out = tmp_path / "crash"

    def small_disk():
        resource.setrlimit(resource.RLIMIT_FSIZE, (4 << 20, 4 << 20))

    result = tools.run("dumpcap", *machine.args(), out, preexec_fn=small_disk)
    assert result.returncode == EXIT_FAILED, result.stderr
    assert sorted(p.name for p in out.iterdir()) == ["FAILED", "vmcore.partial"]
    assert "File too large" in (out / "FAILED").read_text()


def test_an_existing_vmcore_is_never_overwritten(tools, tmp_path):
    machine = crashed_machine(tmp_path / "m")
    out = tmp_path / "crash"
    out.mkdir()
    (out / "vmcore").write_text("earlier capture")
    result = tools.run("dumpcap", *machine.args(), out)
    assert result.returncode == EXIT_ERROR and "already exists" in result.stderr
    assert (out / "vmcore").read_text() == "earlier capture"


def test_memory_without_coreboot_tables_has_nothing_to_capture(tools, tmp_path):
    mem = tmp_path / "mem.img"
    mem.write_bytes(bytes(1 << 20))
    result = tools.run("dumpcap", "--mem", mem, tmp_path / "crash")
    assert result.returncode == EXIT_NOTHING
    assert "no valid coreboot table" in result.stderr


def test_elfcorehdr_is_written_into_the_anchor_after_the_table(tools, tmp_path):
    """--elfcorehdr (the in-service flow) writes no file: an ELF core header
    in the anchor's first half, named by the elfcorehdr= it prints."""
    machine = crashed_machine(tmp_path / "m")
    result = tools.run("dumpcap", *machine.args(), "--elfcorehdr")
    assert result.returncode == 0, result.stderr
    size, addr = (
        int(v, 0) for v in re.fullmatch(r"elfcorehdr=(\d+)@(0x[0-9a-f]+)\n", result.stdout).groups()
    )
    assert addr > ANCHOR and addr + size <= CPU_STATE[0]
    header = read_at(machine.mem, addr, size)
    assert header[:4] == b"\x7fELF" and int.from_bytes(header[16:18], "little") == 4  # ET_CORE
    assert b"VMCOREINFO" in header and "2 CPUs with registers" in result.stderr


def test_elfcorehdr_without_registers_or_vmcoreinfo_is_refused(tools, tmp_path):
    """A reset without a panic leaves no note; Linux's vmcore cannot serve a
    header without one, so dumpcap writes none and LinuxBoot captures."""
    machine = crashed_machine(tmp_path / "m")
    write_at(machine.mem, CPU_STATE[0], bytes(CPU_STATE[1]))
    write_at(machine.mem, VMCOREINFO_ADDR, bytes(PAGE))
    write_at(machine.mem, COPY_DEST + (NOTES_ADDR - COPY_BASE), bytes(PAGE))
    before = read_at(machine.mem, ANCHOR, CPU_STATE[0] - ANCHOR)
    result = tools.run("dumpcap", *machine.args(), "--elfcorehdr")
    assert result.returncode == EXIT_ERROR, result.stderr
    assert "no CPU registers and no VMCOREINFO" in result.stderr
    assert result.stdout == ""
    assert read_at(machine.mem, ANCHOR, CPU_STATE[0] - ANCHOR) == before
