"""Pure encoders for the ELF64 pieces of a Linux vmcore.

Layouts are the kernel's: Elf64_Ehdr/Elf64_Phdr/Elf64_Nhdr from
include/uapi/linux/elf.h, and struct elf_prstatus from include/linux/
elfcore.h as laid out on an LP64 little-endian machine. Every format is
explicit little-endian ("<"), so these functions mean the same on any host.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass

from ..errors import WarmbootError


class ElfCoreError(WarmbootError):
    """Something cannot be encoded as an ELF core (bad sizes, unknown machine)."""


EM_X86_64 = 62
EM_AARCH64 = 183

ET_CORE = 4
EV_CURRENT = 1
ELFCLASS64 = 2
ELFDATA2LSB = 1
ELFOSABI_NONE = 0

PT_LOAD = 1
PT_NOTE = 4
PF_X, PF_W, PF_R = 1, 2, 4

NT_PRSTATUS = 1
VMCOREINFO_NOTE_TYPE = 0  # the kernel's append_elf_note(.., "VMCOREINFO", 0, ..)
CORE_NOTE_NAME = b"CORE"
VMCOREINFO_NOTE_NAME = b"VMCOREINFO"
NOTE_ALIGN = 4  # Linux notes pad name and desc to 4 bytes, also in ELF64
PN_XNUM = 0xFFFF

EHDR = struct.Struct("<16sHHIQQQIHHHHHH")  # Elf64_Ehdr, 64 bytes
PHDR = struct.Struct("<IIQQQQQQ")  # Elf64_Phdr, 56 bytes
NHDR = struct.Struct("<III")  # Elf64_Nhdr: namesz, descsz, type

# struct elf_prstatus_common (LP64): pr_info {si_signo, si_code, si_errno},
# pr_cursig (short, then 2 bytes padding), pr_sigpend, pr_sighold,
# pr_pid, pr_ppid, pr_pgrp, pr_sid, then four struct timeval {long, long}.
PRSTATUS_COMMON = struct.Struct("<iiih2xQQiiii16s16s16s16s")
PR_REG_OFFSET = PRSTATUS_COMMON.size
assert PR_REG_OFFSET == 112
PR_PID_OFFSET = 32


@dataclass(frozen=True)
class MachineLayout:
    """What differs between architectures in a vmcore's CPU notes."""

    e_machine: int
    name: str
    gregs: tuple[str, ...]  # elf_gregset_t order
    pc: str
    sp: str

    @property
    def prstatus_size(self) -> int:
        # pr_reg, then int pr_fpvalid, padded to the struct's 8-byte alignment.
        end = PR_REG_OFFSET + 8 * len(self.gregs) + 4
        return (end + 7) & ~7

    @property
    def pc_index(self) -> int:
        return self.gregs.index(self.pc)

    @property
    def sp_index(self) -> int:
        return self.gregs.index(self.sp)


# struct user_regs_struct (arch/x86/include/asm/user_64.h)
X86_64 = MachineLayout(
    EM_X86_64,
    "x86_64",
    (
        "r15",
        "r14",
        "r13",
        "r12",
        "rbp",
        "rbx",
        "r11",
        "r10",
        "r9",
        "r8",
        "rax",
        "rcx",
        "rdx",
        "rsi",
        "rdi",
        "orig_rax",
        "rip",
        "cs",
        "eflags",
        "rsp",
        "ss",
        "fs_base",
        "gs_base",
        "ds",
        "es",
        "fs",
        "gs",
    ),
    pc="rip",
    sp="rsp",
)
# struct user_pt_regs (arch/arm64/include/uapi/asm/ptrace.h)
AARCH64 = MachineLayout(
    EM_AARCH64, "aarch64", (*(f"x{i}" for i in range(31)), "sp", "pc", "pstate"), pc="pc", sp="sp"
)

MACHINES = {m.e_machine: m for m in (X86_64, AARCH64)}
assert X86_64.prstatus_size == 336 and AARCH64.prstatus_size == 392


def machine_layout(e_machine: int) -> MachineLayout:
    try:
        return MACHINES[e_machine]
    except KeyError:
        raise ElfCoreError(f"no vmcore support for e_machine {e_machine}") from None


@dataclass(frozen=True)
class ProgramHeader:
    p_type: int
    p_offset: int
    p_vaddr: int
    p_paddr: int
    p_filesz: int
    p_memsz: int
    p_flags: int = 0
    p_align: int = 0


def encode_elf_header(e_machine: int, phnum: int) -> bytes:
    """An ET_CORE Elf64_Ehdr with `phnum` program headers right after it."""
    if not 0 < phnum < PN_XNUM:
        raise ElfCoreError(f"{phnum} program headers do not fit e_phnum")
    ident = b"\x7fELF" + bytes((ELFCLASS64, ELFDATA2LSB, EV_CURRENT, ELFOSABI_NONE))
    return EHDR.pack(
        ident.ljust(16, b"\0"),
        ET_CORE,
        e_machine,
        EV_CURRENT,
        0,
        EHDR.size,
        0,
        0,
        EHDR.size,
        PHDR.size,
        phnum,
        0,
        0,
        0,
    )


def encode_program_header(ph: ProgramHeader) -> bytes:
    # Elf64_Phdr orders p_flags right after p_type.
    return PHDR.pack(
        ph.p_type,
        ph.p_flags,
        ph.p_offset,
        ph.p_vaddr,
        ph.p_paddr,
        ph.p_filesz,
        ph.p_memsz,
        ph.p_align,
    )


def _pad(data: bytes, align: int = NOTE_ALIGN) -> bytes:
    return data + b"\0" * (-len(data) % align)


def encode_note(name: bytes, note_type: int, desc: bytes) -> bytes:
    """One ELF note as the kernel's append_elf_note() writes it: namesz counts
    the NUL, name and desc are each padded to 4 bytes."""
    name_z = name + b"\0"
    return NHDR.pack(len(name_z), len(desc), note_type) + _pad(name_z) + _pad(desc)


def encode_prstatus(layout: MachineLayout, regs: Sequence[int], pid: int, cursig: int = 0) -> bytes:
    """struct elf_prstatus for one CPU, as crash_save_cpu() fills it: pr_pid
    and pr_reg set, everything else zero (pr_cursig optional)."""
    if len(regs) != len(layout.gregs):
        raise ElfCoreError(
            f"{layout.name} elf_gregset_t has {len(layout.gregs)} registers, got {len(regs)}"
        )
    zero_time = b"\0" * 16
    common = PRSTATUS_COMMON.pack(
        0, 0, 0, cursig, 0, 0, pid, 0, 0, 0, zero_time, zero_time, zero_time, zero_time
    )
    reg_bytes = struct.pack(f"<{len(regs)}Q", *(r & 0xFFFF_FFFF_FFFF_FFFF for r in regs))
    return (common + reg_bytes).ljust(layout.prstatus_size, b"\0")


def decode_prstatus(layout: MachineLayout, desc: bytes) -> tuple[int, tuple[int, ...]]:
    """(pr_pid, pr_reg) from an NT_PRSTATUS descriptor."""
    if len(desc) < PR_REG_OFFSET + 8 * len(layout.gregs):
        raise ElfCoreError(
            f"NT_PRSTATUS is {len(desc)} bytes, {layout.name} needs {layout.prstatus_size}"
        )
    pid = struct.unpack_from("<i", desc, PR_PID_OFFSET)[0]
    regs = struct.unpack_from(f"<{len(layout.gregs)}Q", desc, PR_REG_OFFSET)
    return pid, regs


def prstatus_note(layout: MachineLayout, regs: Sequence[int], pid: int, cursig: int = 0) -> bytes:
    return encode_note(CORE_NOTE_NAME, NT_PRSTATUS, encode_prstatus(layout, regs, pid, cursig))


def vmcoreinfo_note(text: bytes) -> bytes:
    """The VMCOREINFO note exactly as /proc/vmcore carries it: name
    "VMCOREINFO", type 0, desc the KEY=value lines without a trailing NUL."""
    return encode_note(VMCOREINFO_NOTE_NAME, VMCOREINFO_NOTE_TYPE, text)
