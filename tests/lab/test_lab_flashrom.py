"""The flashrom wrapper against the real flashrom 1.3 and its dummy programmer."""

from __future__ import annotations

import pytest

from warmboot.lab.commands import CommandRunner
from warmboot.lab.config import FlashromSettings
from warmboot.lab.errors import BoardIdentityError, FlashVerifyError
from warmboot.lab.flashrom import Flashrom, ProbedChip, parse_probe_output, select_chip
from warmboot.release import Fmap, FmapArea, encode_fmap


def flashrom_for(tmp_path, emulate: str, size: int, **settings) -> Flashrom:
    chip = tmp_path / "chip.bin"
    if not chip.exists():
        chip.write_bytes(b"\xff" * size)
    options = f"emulate={emulate},image={chip}"
    if emulate == "VARIABLE_SIZE":
        options = f"emulate=VARIABLE_SIZE,size={size},image={chip}"
    config = FlashromSettings(
        command=("flashrom",),
        programmer=f"dummy:{options}",
        chip=settings.pop("chip", "W25Q128.V"),
        size=size,
        **settings,
    )
    return Flashrom(config, CommandRunner(tmp_path / "logs"), "bench")


def test_probe_of_a_single_chip_reports_vendor_name_size_and_bus(tmp_path):
    found = flashrom_for(tmp_path, "W25Q128FV", 16 << 20).probe()
    assert found == (ProbedChip("Winbond", "W25Q128.V", 16 << 20, "SPI"),)


def test_probe_that_matches_several_definitions_reports_them_all(tmp_path):
    # flashrom exits 1 here and asks for -c; the definitions are still the answer.
    found = flashrom_for(tmp_path, "MX25L6436", 8 << 20).probe()
    assert [chip.name for chip in found] == [
        "MX25L6405",
        "MX25L6405D",
        "MX25L6406E/MX25L6408E",
        "MX25L6436E/MX25L6445E/MX25L6465E/MX25L6473E/MX25L6473F",
    ]
    assert {chip.size for chip in found} == {8 << 20}
    chosen = select_chip(found, "MX25L6406E/MX25L6408E", 8 << 20)
    assert chosen.name == "MX25L6406E/MX25L6408E"


def test_probe_with_no_chip_on_the_bus_is_refused_as_no_chip(tmp_path):
    flashrom = flashrom_for(tmp_path, "W25Q128FV", 16 << 20)
    flashrom.settings = FlashromSettings(
        command=("flashrom",), programmer="dummy:bus=parallel", chip="W25Q128.V", size=16 << 20
    )
    found = flashrom.probe()
    assert found == ()
    with pytest.raises(BoardIdentityError, match="found no flash chip"):
        select_chip(found, "W25Q128.V", 16 << 20)


def test_probe_parser_reads_forced_and_mapped_chips():
    text = (
        'Found chipset "Intel Q35". Enabling flash write... OK.\n'
        'Found Winbond flash chip "W25Q64BV/W25Q64CV/W25Q64FV" (8192 kB, SPI) mapped at '
        "physical address 0x00000000ff800000.\n"
        'Assuming Macronix flash chip "MX25L12835F" (16384 kB, SPI) on ch341a_spi.\n'
    )
    assert parse_probe_output(text) == (
        ProbedChip("Winbond", "W25Q64BV/W25Q64CV/W25Q64FV", 8 << 20, "SPI"),
        ProbedChip("Macronix", "MX25L12835F", 16 << 20, "SPI"),
    )


@pytest.mark.parametrize(
    "name, size, message",
    [
        (
            "W25Q128.V",
            8 << 20,
            r'the probed Winbond "W25Q128.V" \(16 MiB\) is not "W25Q128.V" '
            r"\(8 MiB\)",
        ),
        (
            "MX25L12835F",
            16 << 20,
            r'the probe found Winbond "W25Q128.V" \(16 MiB\), not the '
            r'expected "MX25L12835F"',
        ),
    ],
)
def test_select_chip_refuses_another_name_or_size(name, size, message):
    found = (ProbedChip("Winbond", "W25Q128.V", 16 << 20, "SPI"),)
    with pytest.raises(BoardIdentityError, match=message):
        select_chip(found, name, size)


def _rom_with_fmap(fill: int) -> bytes:
    size = 0x10000
    fmap = Fmap(
        offset=0x8000,
        base=0x1_0000_0000 - size,
        size=size,
        name="FLASH",
        areas=(
            FmapArea("RO_VPD", 0, 0x8000),
            FmapArea("FMAP", 0x8000, 0x200),
            FmapArea("COREBOOT", 0x8200, size - 0x8200),
        ),
    )
    image = bytearray([fill]) * size
    encoded = encode_fmap(fmap)
    image[0x8000 : 0x8000 + len(encoded)] = encoded
    return bytes(image)


def test_fmap_layout_writes_and_verifies_only_the_named_regions(tmp_path):
    """layout = "fmap", regions = ["COREBOOT"]: the RO_VPD region keeps its contents."""
    old, new = _rom_with_fmap(0x11), _rom_with_fmap(0x22)
    (tmp_path / "chip.bin").write_bytes(old)
    flashrom = flashrom_for(
        tmp_path,
        "VARIABLE_SIZE",
        0x10000,
        chip="Opaque flash chip",
        layout="fmap",
        regions=("COREBOOT",),
    )
    flashrom.write(new, "write")
    flashrom.verify(new, "verify")
    chip = (tmp_path / "chip.bin").read_bytes()
    assert chip[:0x8000] == old[:0x8000] and chip[0x8200:] == new[0x8200:]
    # The whole chip differs from the image (RO_VPD was kept), which a full verify reports.
    with pytest.raises(FlashVerifyError, match="FAILED"):
        flashrom.verify(new, "verify-whole", whole_chip=True)
