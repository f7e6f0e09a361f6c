"""VMCOREINFO handling: the note, its keys, and the direct-map p_vaddr rules."""

from __future__ import annotations

import pytest

from crash_samples import SYNTHETIC_VMCOREINFO
from warmboot.vmcore.elfcore import EM_AARCH64, EM_X86_64, NHDR, vmcoreinfo_note
from warmboot.vmcore.vmcoreinfo import (
    X86_64_PAGE_OFFSET_L4,
    X86_64_PAGE_OFFSET_L5,
    VmcoreinfoError,
    direct_map,
    parse_vmcoreinfo,
    vmcoreinfo_from_note,
)


def test_note_is_laid_out_like_the_kernels_append_elf_note():
    note = vmcoreinfo_note(b"PAGESIZE=4096\n")
    assert NHDR.unpack_from(note) == (11, 14, 0)  # "VMCOREINFO\0", text, type 0
    assert note[12:24] == b"VMCOREINFO\0\0"  # name padded to 4
    assert note[24:38] == b"PAGESIZE=4096\n" and note[38:] == b"\0\0"
    assert len(note) % 4 == 0


def test_text_comes_back_from_a_kernel_style_note_buffer():
    # The kernel's vmcoreinfo_note buffer: the note, final_note(), then zeros.
    buffer = vmcoreinfo_note(SYNTHETIC_VMCOREINFO) + bytes(NHDR.size) + bytes(100)
    assert vmcoreinfo_from_note(buffer) == SYNTHETIC_VMCOREINFO


@pytest.mark.parametrize(
    "buffer, message",
    [
        (b"\0" * 8, "shorter than its header"),
        (NHDR.pack(5, 4, 1) + b"CORE\0\0\0\0abcd", "not a VMCOREINFO note"),
        (NHDR.pack(11, 400, 0) + b"VMCOREINFO\0\0abc", "claims 400 bytes"),
    ],
)
def test_broken_notes_are_named(buffer, message):
    with pytest.raises(VmcoreinfoError, match=message):
        vmcoreinfo_from_note(buffer)


def test_keys_parse_as_makedumpfile_reads_them():
    info = parse_vmcoreinfo(SYNTHETIC_VMCOREINFO)
    assert info["OSRELEASE"] == "6.1.0-warmboot-test"
    assert info["SYMBOL(init_uts_ns)"] == "ffffffff82a1c300"
    assert info["OFFSET(uts_namespace.name)"] == "0"


@pytest.mark.parametrize(
    "text, page_offset, expected",
    [
        (b"", None, X86_64_PAGE_OFFSET_L4 + 0x1000),
        (b"NUMBER(pgtable_l5_enabled)=1\n", None, X86_64_PAGE_OFFSET_L5 + 0x1000),
        (b"NUMBER(page_offset_base)=0xffff9c0000000000\n", None, 0xFFFF9C0000001000),
        (b"NUMBER(page_offset_base)=0xffff9c0000000000\n", 0xFFFFA00000000000, 0xFFFFA00000001000),
    ],
)
def test_x86_64_vaddr_is_page_offset_plus_paddr(text, page_offset, expected):
    assert direct_map(EM_X86_64, parse_vmcoreinfo(text), page_offset)(0x1000) == expected


def test_aarch64_vaddr_follows_phys_to_virt():
    info = parse_vmcoreinfo(b"NUMBER(VA_BITS)=48\nNUMBER(PHYS_OFFSET)=0x80000000\n")
    assert direct_map(EM_AARCH64, info)(0x80201000) == 0xFFFF_0000_0020_1000
    info52 = parse_vmcoreinfo(b"NUMBER(VA_BITS)=52\nNUMBER(PHYS_OFFSET)=0x0\n")
    assert direct_map(EM_AARCH64, info52)(0x1000) == 0xFFF0_0000_0000_1000


def test_aarch64_without_the_keys_has_no_kernel_address():
    assert direct_map(EM_AARCH64, parse_vmcoreinfo(b"PAGESIZE=4096\n"))(0x40000000) == 0


def test_non_numeric_value_is_reported():
    with pytest.raises(VmcoreinfoError, match="NUMBER\\(VA_BITS\\)='x'"):
        direct_map(EM_AARCH64, {"NUMBER(VA_BITS)": "x", "NUMBER(PHYS_OFFSET)": "0"})
