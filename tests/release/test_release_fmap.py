"""The FMAP parser, on coreboot's real ROM and on synthetic images."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from warmboot.release import Fmap, FmapArea, encode_fmap, errors, parse_fmap


def test_real_coreboot_rom_fmap_matches_cbfstool_layout(real_rom):
    fmap = parse_fmap(real_rom.read_bytes())
    # As `cbfstool coreboot.rom layout -w` prints it for qemu-q35.
    assert (fmap.offset, fmap.name, fmap.size, fmap.base) == (
        0x800000,
        "FLASH",
        0x1000000,
        0xFF000000,
    )
    assert fmap.areas == (
        FmapArea("BIOS", 0x800000, 0x800000),
        FmapArea("FMAP", 0x800000, 0x200),
        FmapArea("COREBOOT", 0x800200, 0x7FFE00),
    )


def test_rom_without_fmap_is_rejected_with_a_clear_message():
    with pytest.raises(errors.FmapNotFoundError, match=r"no FMAP .* is it a coreboot image"):
        parse_fmap(b"\xff" * 4096)


def test_fmap_signature_inside_strings_is_not_taken_for_a_header(make_rom):
    rom = bytearray(make_rom())
    # coreboot's own code carries "__FMAP__\0FMAP missing or corrupted"; see fmap.c.
    rom[0x100 : 0x100 + 40] = b"__FMAP__\x00FMAP missing or corrupted at of"
    assert parse_fmap(bytes(rom)).offset == len(rom) // 2


def test_two_valid_fmaps_are_rejected_as_ambiguous(make_rom):
    rom = bytearray(make_rom())
    header = rom[len(rom) // 2 : len(rom) // 2 + 56 + 3 * 42]
    rom[0x1000 : 0x1000 + len(header)] = header
    with pytest.raises(errors.FmapError, match=r"2 valid FMAP headers .* ambiguous"):
        parse_fmap(bytes(rom))


def test_region_beyond_the_image_is_rejected():
    fmap = Fmap(
        offset=0, base=0, size=0x1000, name="FLASH", areas=(FmapArea("BIG", 0x800, 0x1000),)
    )
    image = encode_fmap(fmap) + b"\0" * (0x1000 - len(encode_fmap(fmap)))
    with pytest.raises(errors.FmapError, match=r"region 'BIG' .* extends beyond the image"):
        parse_fmap(image)


names = st.text(
    alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1, max_size=31
)


@settings(max_examples=50, deadline=None)
@given(
    base=st.integers(0, 2**64 - 1),
    minor=st.integers(0, 255),
    name=names,
    areas=st.lists(
        st.tuples(names, st.integers(0, 0x800), st.integers(0, 0x800), st.integers(0, 0xFFFF)),
        max_size=8,
        unique_by=lambda area: area[0],
    ),
    where=st.integers(0, 0x100),
)
def test_encoded_fmap_parses_back_to_itself(base, minor, name, areas, where):
    fmap = Fmap(
        offset=where,
        base=base,
        size=0x2000,
        name=name,
        ver_minor=minor,
        areas=tuple(FmapArea(*area) for area in areas),
    )
    encoded = encode_fmap(fmap)
    image = b"\0" * where + encoded + b"\0" * (0x2000 - where - len(encoded))
    assert parse_fmap(image) == fmap
