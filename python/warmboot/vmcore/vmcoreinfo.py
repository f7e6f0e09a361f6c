"""VMCOREINFO: the kernel's KEY=value description of itself for dump tools.

The text is what the kernel builds in kernel/crash_core.c (OSRELEASE,
PAGESIZE, SYMBOL(...), NUMBER(...), KERNELOFFSET, ...). warmboot carries it
unchanged into the vmcore and reads a few keys to place PT_LOADs at the
kernel's direct-map addresses.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from ..errors import WarmbootError
from .elfcore import EM_AARCH64, EM_X86_64, NHDR, VMCOREINFO_NOTE_NAME, VMCOREINFO_NOTE_TYPE

# arch/x86/include/asm/page_64_types.h: the direct map without
# CONFIG_RANDOMIZE_MEMORY, for 4- and 5-level paging.
X86_64_PAGE_OFFSET_L4 = 0xFFFF_8880_0000_0000
X86_64_PAGE_OFFSET_L5 = 0xFF11_0000_0000_0000
# Not exported by upstream kernels (page_offset_base is randomized with KASLR);
# a kernel or PMT registration that knows it may add this key.
X86_64_PAGE_OFFSET_KEY = "NUMBER(page_offset_base)"
UNKNOWN_VADDR = 0  # makedumpfile's NOT_KV_ADDR: "this PT_LOAD has no kernel address"
MASK64 = (1 << 64) - 1


class VmcoreinfoError(WarmbootError):
    """VMCOREINFO text or note that cannot be used."""


def parse_vmcoreinfo(text: bytes) -> dict[str, str]:
    """KEY=value lines into a dict; later lines win, as in makedumpfile."""
    try:
        decoded = text.decode("ascii")
    except UnicodeDecodeError as exc:
        raise VmcoreinfoError(f"VMCOREINFO is not ASCII text: {exc}") from exc
    info: dict[str, str] = {}
    for line in decoded.split("\n"):
        key, sep, value = line.partition("=")
        if sep:
            info[key] = value
    return info


def vmcoreinfo_from_note(note: bytes) -> bytes:
    """The text inside a kernel vmcoreinfo ELF note (what /sys/kernel/
    vmcoreinfo points at): Elf64_Nhdr, "VMCOREINFO\\0" padded, then text."""
    if len(note) < NHDR.size:
        raise VmcoreinfoError(f"VMCOREINFO note is {len(note)} bytes, shorter than its header")
    namesz, descsz, note_type = NHDR.unpack_from(note)
    name_end = NHDR.size + namesz
    desc_start = NHDR.size + ((namesz + 3) & ~3)
    name = note[NHDR.size : name_end].rstrip(b"\0")
    if name != VMCOREINFO_NOTE_NAME or note_type != VMCOREINFO_NOTE_TYPE:
        raise VmcoreinfoError(f"not a VMCOREINFO note (name {name!r}, type {note_type})")
    if desc_start + descsz > len(note):
        raise VmcoreinfoError(
            f"VMCOREINFO note claims {descsz} bytes of text, only {len(note) - desc_start} present"
        )
    return note[desc_start : desc_start + descsz]


def _number(info: Mapping[str, str], key: str, base: int) -> int | None:
    value = info.get(key)
    if value is None:
        return None
    try:
        return int(value, 16 if value.lower().startswith("0x") else base)
    except ValueError:
        raise VmcoreinfoError(f"VMCOREINFO {key}={value!r} is not a number") from None


def page_size(info: Mapping[str, str], default: int = 4096) -> int:
    return _number(info, "PAGESIZE", 10) or default


def direct_map(
    e_machine: int, info: Mapping[str, str], page_offset: int | None = None
) -> Callable[[int], int]:
    """The kernel's __va() for RAM, as /proc/vmcore sets PT_LOAD p_vaddr.

    x86_64: PAGE_OFFSET + paddr, with PAGE_OFFSET from `page_offset`, else
    VMCOREINFO NUMBER(page_offset_base), else the non-randomized base for the
    paging depth NUMBER(pgtable_l5_enabled) says. aarch64 (5.4+):
    (paddr - PHYS_OFFSET) | PAGE_OFFSET with PAGE_OFFSET = -(1 << VA_BITS),
    when VMCOREINFO has NUMBER(VA_BITS) and NUMBER(PHYS_OFFSET). Otherwise
    p_vaddr is 0, which dump tools read as "no kernel address".
    """
    if e_machine == EM_X86_64:
        base = page_offset
        if base is None:
            base = _number(info, X86_64_PAGE_OFFSET_KEY, 16)
        if base is None:
            l5 = _number(info, "NUMBER(pgtable_l5_enabled)", 10)
            base = X86_64_PAGE_OFFSET_L5 if l5 else X86_64_PAGE_OFFSET_L4
        return lambda paddr: (base + paddr) & MASK64
    if e_machine == EM_AARCH64:
        va_bits = _number(info, "NUMBER(VA_BITS)", 10)
        phys_offset = _number(info, "NUMBER(PHYS_OFFSET)", 16)
        if page_offset is None and va_bits is not None:
            page_offset = -(1 << va_bits) & MASK64
        if page_offset is not None and phys_offset is not None:
            return lambda paddr: ((paddr - phys_offset) & MASK64) | page_offset
    return lambda paddr: UNKNOWN_VADDR
