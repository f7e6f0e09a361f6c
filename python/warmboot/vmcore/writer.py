"""Stream an ELF64 ET_CORE vmcore in the form Linux's /proc/vmcore has.

The file is: Elf64_Ehdr; the program headers (one PT_NOTE, then one PT_LOAD
per preserved region, in physical-address order); the note segment (one
NT_PRSTATUS per CPU, then VMCOREINFO); then each region's bytes, starting
on a page boundary. Headers and notes are computed up front by pure
functions; region bytes are copied from a PhysicalMemory in bounded chunks,
so capturing gigabytes from /dev/mem needs only one chunk of memory and an
output that accepts sequential writes (a file, a pipe, a socket).
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import BinaryIO

from ..errors import WarmbootError
from ..handoff.physmem import PhysicalMemory, PhysicalMemoryError
from .elfcore import (
    EHDR,
    NOTE_ALIGN,
    PF_R,
    PF_W,
    PF_X,
    PHDR,
    PT_LOAD,
    PT_NOTE,
    ProgramHeader,
    encode_elf_header,
    encode_program_header,
    machine_layout,
    prstatus_note,
    vmcoreinfo_note,
)

DEFAULT_CHUNK = 4 << 20
DEFAULT_PAGE_SIZE = 4096


class VmcoreError(WarmbootError):
    """A vmcore cannot be written or read."""


@dataclass(frozen=True)
class CpuNote:
    """One CPU's registers, in the machine's elf_gregset_t order."""

    pid: int
    regs: tuple[int, ...]
    cursig: int = 0


@dataclass(frozen=True)
class LoadSegment:
    """One PT_LOAD: the crashed kernel's physical range [paddr, paddr+size),
    its kernel virtual address, and where its bytes are to be read now
    (`source`: equal to paddr, or a BOOT_COPY's destination)."""

    paddr: int
    vaddr: int
    size: int
    source: int


@dataclass(frozen=True)
class VmcorePlan:
    e_machine: int
    cpus: tuple[CpuNote, ...]
    vmcoreinfo: bytes
    segments: tuple[LoadSegment, ...]
    page_size: int = DEFAULT_PAGE_SIZE


@dataclass(frozen=True)
class PlacedSegment:
    segment: LoadSegment
    offset: int


@dataclass(frozen=True)
class VmcoreLayout:
    """Everything before the first region's bytes, and where each region goes."""

    head: bytes
    placed: tuple[PlacedSegment, ...]

    @property
    def size(self) -> int:
        last = self.placed[-1] if self.placed else None
        return last.offset + last.segment.size if last else len(self.head)


def _align_up(value: int, align: int) -> int:
    return -(-value // align) * align


def check_segments(segments: Sequence[LoadSegment]) -> tuple[LoadSegment, ...]:
    """Segments sorted by paddr; empty or overlapping ones are an error (dump
    tools map a physical address to exactly one PT_LOAD)."""
    ordered = tuple(sorted(segments, key=lambda s: s.paddr))
    for seg in ordered:
        if seg.size <= 0:
            raise VmcoreError(f"region at {seg.paddr:#x} has size {seg.size}")
    for before, after in itertools.pairwise(ordered):
        if before.paddr + before.size > after.paddr:
            raise VmcoreError(
                f"regions overlap: [{before.paddr:#x}, {before.paddr + before.size:#x}) "
                f"and [{after.paddr:#x}, {after.paddr + after.size:#x})"
            )
    return ordered


def encode_notes(plan: VmcorePlan) -> bytes:
    """The PT_NOTE segment: NT_PRSTATUS per CPU in order, then VMCOREINFO,
    which is the order /proc/vmcore merges them in."""
    layout = machine_layout(plan.e_machine)
    notes = [prstatus_note(layout, cpu.regs, cpu.pid, cpu.cursig) for cpu in plan.cpus]
    if plan.vmcoreinfo:
        notes.append(vmcoreinfo_note(plan.vmcoreinfo))
    return b"".join(notes)


def layout_vmcore(plan: VmcorePlan) -> VmcoreLayout:
    """Compute headers, notes and file offsets; reads no memory."""
    segments = check_segments(plan.segments)
    notes = encode_notes(plan)
    phnum = 1 + len(segments)
    notes_offset = EHDR.size + phnum * PHDR.size
    cursor = notes_offset + len(notes)
    placed = []
    for seg in segments:
        # Page-aligned data, congruent to paddr: tools may mmap() a page.
        offset = _align_up(cursor, plan.page_size) + seg.paddr % plan.page_size
        placed.append(PlacedSegment(seg, offset))
        cursor = offset + seg.size
    headers = [
        ProgramHeader(PT_NOTE, notes_offset, 0, 0, len(notes), len(notes), p_align=NOTE_ALIGN)
    ]
    headers += [
        ProgramHeader(
            PT_LOAD,
            p.offset,
            p.segment.vaddr,
            p.segment.paddr,
            p.segment.size,
            p.segment.size,
            PF_R | PF_W | PF_X,
        )
        for p in placed
    ]
    head = (
        encode_elf_header(plan.e_machine, phnum)
        + b"".join(encode_program_header(h) for h in headers)
        + notes
    )
    return VmcoreLayout(head, tuple(placed))


def write_vmcore(
    plan: VmcorePlan, memory: PhysicalMemory, out: BinaryIO, chunk_size: int = DEFAULT_CHUNK
) -> int:
    """Write the vmcore to `out` sequentially; returns the bytes written."""
    layout = layout_vmcore(plan)
    out.write(layout.head)
    written = len(layout.head)
    for placed in layout.placed:
        out.write(b"\0" * (placed.offset - written))
        seg = placed.segment
        done = 0
        while done < seg.size:
            take = min(chunk_size, seg.size - done)
            try:
                data = memory.read(seg.source + done, take)
            except PhysicalMemoryError as exc:
                raise VmcoreError(f"region {seg.paddr:#x}+{seg.size:#x}: {exc}") from exc
            if len(data) != take:
                raise VmcoreError(
                    f"region {seg.paddr:#x}: read {len(data)} bytes at {seg.source + done:#x}, "
                    f"wanted {take}"
                )
            out.write(data)
            done += take
        written = placed.offset + seg.size
    return written
