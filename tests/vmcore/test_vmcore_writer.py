"""The vmcore writer, judged by readelf, gdb and pyelftools."""

from __future__ import annotations

import dataclasses
import io

import pytest

from crash_samples import (
    BOOT_COPY_BASE,
    BOOT_COPY_DEST,
    BOOT_COPY_SIZE,
    P0_BASE,
    P0_SIZE,
    P1_BASE,
    P1_SIZE,
    SCRIBBLE,
    build_crashed_machine,
)
from elf_tools import gdb_thread_registers, readelf_notes, readelf_segments
from warmboot import pmt
from warmboot.handoff.physmem import ElfCoreMemory, MemoryImage
from warmboot.vmcore.capture import plan_capture
from warmboot.vmcore.elfcore import AARCH64, X86_64, ElfCoreError, machine_layout
from warmboot.vmcore.vmcoreinfo import X86_64_PAGE_OFFSET_L4
from warmboot.vmcore.writer import (
    CpuNote,
    LoadSegment,
    VmcoreError,
    VmcorePlan,
    layout_vmcore,
    write_vmcore,
)

MACHINES = [pytest.param(pmt.EM_X86_64, id="x86_64"), pytest.param(pmt.EM_AARCH64, id="aarch64")]
PROCESSED = pmt.PmtFlags.ARMED | pmt.PmtFlags.WARM_RESET_SEEN | pmt.PmtFlags.COPY_DONE
REGIONS = [(BOOT_COPY_BASE, BOOT_COPY_SIZE), (P0_BASE, P0_SIZE), (P1_BASE, P1_SIZE)]


@pytest.fixture(params=MACHINES)
def crashed(request, tmp_path):
    machine = build_crashed_machine(request.param)
    capture = plan_capture(machine.table, machine.memory)
    core = tmp_path / "vmcore"
    with open(core, "wb") as out:
        write_vmcore(capture.plan, machine.memory, out)
    return machine, capture, core


def test_readelf_sees_one_note_segment_first_then_a_load_per_region(crashed):
    machine, _, core = crashed
    segments = readelf_segments(core)
    assert [s.type for s in segments] == ["NOTE", "LOAD", "LOAD", "LOAD"]
    loads = segments[1:]
    assert [(s.paddr, s.filesz) for s in loads] == REGIONS
    assert all(s.memsz == s.filesz for s in loads)
    if machine.table.e_machine == pmt.EM_X86_64:
        assert [s.vaddr for s in loads] == [X86_64_PAGE_OFFSET_L4 + base for base, _ in REGIONS]
    else:  # NUMBER(VA_BITS)=48, NUMBER(PHYS_OFFSET)=0x40000000
        assert [s.vaddr for s in loads] == [
            ((base - 0x40000000) % (1 << 64)) | 0xFFFF_0000_0000_0000 for base, _ in REGIONS
        ]
    assert all(s.offset % 4096 == s.paddr % 4096 for s in loads)


def test_readelf_sees_prstatus_per_saved_cpu_then_vmcoreinfo(crashed):
    machine, _, core = crashed
    notes = readelf_notes(core)
    layout = machine_layout(machine.table.e_machine)
    assert [(n.owner, n.description) for n in notes] == [
        ("CORE", "NT_PRSTATUS (prstatus structure)"),
        ("CORE", "NT_PRSTATUS (prstatus structure)"),
        ("VMCOREINFO", "Unknown note type: (0x00000000)"),
    ]
    assert {n.size for n in notes[:2]} == {layout.prstatus_size}
    assert layout.prstatus_size == {pmt.EM_X86_64: 336, pmt.EM_AARCH64: 392}[layout.e_machine]
    # The text exactly, no NUL added: what /proc/vmcore shows.
    assert notes[2].size == len(machine.vmcoreinfo)
    assert notes[2].data == machine.vmcoreinfo


def test_gdb_reports_the_saved_pc_and_sp_of_every_cpu(crashed):
    machine, _, core = crashed
    layout = machine_layout(machine.table.e_machine)
    threads = gdb_thread_registers(core, layout.e_machine, (layout.pc, layout.sp))
    expected = {
        pid: {layout.pc: regs[layout.pc_index], layout.sp: regs[layout.sp_index]}
        for pid, regs in zip(machine.cpu_pids, machine.cpu_regs, strict=True)
    }
    assert threads == expected


def test_crash_notes_win_over_the_cpu_record_and_unsaved_cpus_get_no_note(crashed):
    machine, capture, _ = crashed
    assert [c.regs for c in capture.plan.cpus] == list(machine.cpu_regs)
    assert capture.plan.cpus[1].regs != machine.record_regs[1]
    assert capture.plan.cpus[1].pid == 4242
    assert "cpu 2: no saved registers" in capture.warnings


def test_pyelftools_recovers_every_byte_and_boot_copy_shows_the_copy(crashed):
    machine, _, core = crashed
    with ElfCoreMemory(core) as dumped:
        # PRESERVE regions: memory as it is now (the PMT inside carries
        # firmware's annotations, the rest is what the kernel left).
        for base, size in REGIONS[1:]:
            assert dumped.read(base, size) == machine.memory.read(base, size)
        copied = dumped.read(BOOT_COPY_BASE, BOOT_COPY_SIZE)
    # BOOT_COPY: at its original address, the bytes the kernel had there,
    # which firmware moved to dest before reusing the range.
    assert copied == machine.original(BOOT_COPY_BASE, BOOT_COPY_SIZE)
    assert copied == machine.memory.read(BOOT_COPY_DEST, BOOT_COPY_SIZE)
    assert machine.memory.read(BOOT_COPY_BASE, BOOT_COPY_SIZE) == bytes([SCRIBBLE]) * BOOT_COPY_SIZE


class ChunkRecorder:
    """Memory that remembers the largest read it was asked for."""

    def __init__(self, memory):
        self.memory, self.largest = memory, 0

    def read(self, addr, size):
        self.largest = max(self.largest, size)
        return self.memory.read(addr, size)


class WriteOnly:
    """An output that can only append, like a pipe."""

    def __init__(self):
        self.buffer = io.BytesIO()

    def write(self, data):
        return self.buffer.write(data)


def test_writer_streams_in_bounded_chunks_to_an_append_only_output(tmp_path):
    machine = build_crashed_machine()
    plan = plan_capture(machine.table, machine.memory).plan
    recorder, out = ChunkRecorder(machine.memory), WriteOnly()
    written = write_vmcore(plan, recorder, out, chunk_size=4096)
    assert recorder.largest == 4096
    reference = tmp_path / "reference"
    with open(reference, "wb") as f:
        write_vmcore(plan, machine.memory, f)
    assert out.buffer.getvalue() == reference.read_bytes()
    assert written == len(out.buffer.getvalue()) == layout_vmcore(plan).size


@pytest.mark.parametrize(
    "change, message",
    [
        (
            dict(flags=PROCESSED | pmt.PmtFlags.REJECTED, reject_reason=pmt.RejectReason.BAD_CRC),
            "rejected this PMT \\(BAD_CRC\\)",
        ),
        (dict(flags=PROCESSED & ~pmt.PmtFlags.ARMED), "not armed"),
        (dict(flags=pmt.PmtFlags.ARMED), "has not processed this PMT"),
    ],
)
def test_tables_firmware_did_not_keep_are_not_captured(change, message):
    machine = build_crashed_machine()
    with pytest.raises(VmcoreError, match=message):
        plan_capture(dataclasses.replace(machine.table, **change), machine.memory)
    assert plan_capture(
        dataclasses.replace(machine.table, **change), machine.memory, force=True
    ).plan.segments


def test_failed_boot_copy_is_left_out_with_a_warning():
    machine = build_crashed_machine()
    entries = tuple(
        dataclasses.replace(e, fw_status=pmt.EntryStatus.FAILED)
        if e.type == pmt.EntryType.BOOT_COPY
        else e
        for e in machine.table.entries
    )
    capture = plan_capture(dataclasses.replace(machine.table, entries=entries), machine.memory)
    assert [s.paddr for s in capture.plan.segments] == [P0_BASE, P1_BASE]
    assert any(
        "BOOT_COPY 0x10000+0x8000 left out: firmware status FAILED" in w for w in capture.warnings
    )


def test_overlapping_regions_are_refused():
    plan = VmcorePlan(
        pmt.EM_X86_64,
        (),
        b"",
        (LoadSegment(0x1000, 0, 0x2000, 0x1000), LoadSegment(0x2000, 0, 0x1000, 0x2000)),
    )
    with pytest.raises(VmcoreError, match="overlap"):
        layout_vmcore(plan)


def test_unreadable_region_names_its_address():
    plan = VmcorePlan(
        pmt.EM_X86_64,
        (CpuNote(1, (0,) * len(X86_64.gregs)),),
        b"",
        (LoadSegment(0x200000, 0, 0x1000, 0x200000),),
    )
    with pytest.raises(VmcoreError, match="region 0x200000"):
        write_vmcore(plan, MemoryImage(bytes(0x1000)), io.BytesIO())


def test_register_count_must_match_the_machine():
    plan = VmcorePlan(pmt.EM_AARCH64, (CpuNote(1, (0,) * len(X86_64.gregs)),), b"", ())
    with pytest.raises(ElfCoreError, match="aarch64 elf_gregset_t has 34 registers, got 27"):
        layout_vmcore(plan)
    assert len(AARCH64.gregs) == 34
