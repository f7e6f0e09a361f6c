"""Inspect a vmcore (ours, /proc/vmcore's, or any ELF64 core) with pyelftools."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from elftools.common.exceptions import ELFError
from elftools.elf.elffile import ELFFile
from elftools.elf.segments import NoteSegment

from .elfcore import (
    CORE_NOTE_NAME,
    EHDR,
    MACHINES,
    VMCOREINFO_NOTE_NAME,
    ElfCoreError,
    decode_prstatus,
)
from .vmcoreinfo import VmcoreinfoError, parse_vmcoreinfo
from .writer import VmcoreError


@dataclass(frozen=True)
class CpuState:
    index: int
    pid: int
    pc: int
    sp: int
    regs: dict[str, int]


@dataclass(frozen=True)
class Region:
    paddr: int
    vaddr: int
    size: int
    offset: int


@dataclass(frozen=True)
class VmcoreSummary:
    path: str
    machine: str
    e_machine: int
    cpus: tuple[CpuState, ...]
    vmcoreinfo: dict[str, str]
    regions: tuple[Region, ...]

    def to_json(self) -> dict:
        return {
            "path": self.path,
            "machine": self.machine,
            "e_machine": self.e_machine,
            "cpus": [
                {
                    "index": c.index,
                    "pid": c.pid,
                    "pc": f"{c.pc:#x}",
                    "sp": f"{c.sp:#x}",
                    "regs": {k: f"{v:#x}" for k, v in c.regs.items()},
                }
                for c in self.cpus
            ],
            "vmcoreinfo": self.vmcoreinfo,
            "regions": [
                {
                    "paddr": f"{r.paddr:#x}",
                    "vaddr": f"{r.vaddr:#x}",
                    "size": r.size,
                    "offset": r.offset,
                }
                for r in self.regions
            ],
        }


# ELFFile reports e_machine by name.
_MACHINE_NAMES = {"EM_X86_64": 62, "EM_AARCH64": 183}


def read_vmcore(path: str | os.PathLike[str]) -> VmcoreSummary:
    """Summarize a vmcore: machine, CPUs (from NT_PRSTATUS), VMCOREINFO, regions.

    Raises VmcoreError for anything that is not a complete ELF64 core.
    """
    path = Path(path)
    try:
        file_size = path.stat().st_size
        if file_size < EHDR.size:
            raise VmcoreError(f"{path}: {file_size} bytes, too short for an ELF64 header")
        with open(path, "rb") as stream:
            return _summarize(path, ELFFile(stream), file_size)
    except OSError as exc:
        raise VmcoreError(f"cannot read {path}: {exc.strerror}") from exc
    except (ELFError, ElfCoreError, VmcoreinfoError) as exc:
        raise VmcoreError(f"{path}: not a usable vmcore: {exc}") from exc


def _summarize(path: Path, elf: ELFFile, file_size: int) -> VmcoreSummary:
    if elf.elfclass != 64:
        raise VmcoreError(f"{path}: ELF{elf.elfclass}, a vmcore here is ELF64")
    if elf["e_type"] != "ET_CORE":
        raise VmcoreError(f"{path}: e_type is {elf['e_type']}, not ET_CORE")
    e_machine = _MACHINE_NAMES.get(elf["e_machine"], elf["e_machine"])
    layout = MACHINES.get(e_machine) if isinstance(e_machine, int) else None
    if elf.header["e_phoff"] + elf.num_segments() * elf.header["e_phentsize"] > file_size:
        raise VmcoreError(f"{path}: program headers run past the end of the file")

    cpus: list[CpuState] = []
    info: dict[str, str] = {}
    regions: list[Region] = []
    for seg in elf.iter_segments():
        end = seg["p_offset"] + seg["p_filesz"]
        if end > file_size:
            raise VmcoreError(
                f"{path}: {seg['p_type']} at paddr {seg['p_paddr']:#x} ends at offset {end:#x}, "
                f"past the file's {file_size:#x} bytes (truncated)"
            )
        if seg["p_type"] == "PT_NOTE" and isinstance(seg, NoteSegment):
            for note in seg.iter_notes():
                name = (note["n_name"] or "").encode()
                desc = bytes(note["n_descdata"])
                if name == CORE_NOTE_NAME and note["n_type"] == "NT_PRSTATUS" and layout:
                    pid, regs = decode_prstatus(layout, desc)
                    named = dict(zip(layout.gregs, regs, strict=True))
                    cpus.append(CpuState(len(cpus), pid, named[layout.pc], named[layout.sp], named))
                elif name == VMCOREINFO_NOTE_NAME:
                    info = parse_vmcoreinfo(desc)
        elif seg["p_type"] == "PT_LOAD":
            regions.append(Region(seg["p_paddr"], seg["p_vaddr"], seg["p_filesz"], seg["p_offset"]))
    machine = layout.name if layout else str(elf["e_machine"])
    return VmcoreSummary(
        str(path),
        machine,
        e_machine if isinstance(e_machine, int) else 0,
        tuple(cpus),
        info,
        tuple(regions),
    )
