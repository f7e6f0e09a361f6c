"""The tables h-labgrid added, read through the schema reader: board.toml's optional
[qemu] and [flash] (lenovo-x230), lab.toml's [labgrid] places and labgrid_coordinator.
Each refusal is one line naming the file and the key, like every other config error."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from warmboot.boards import BoardError, load_board
from warmboot.lab.config import TcpConsole, load_lab_config
from warmboot.lab.errors import ConfigError
from wbtest import TOP

X230 = "lenovo-x230"


def x230_top(tmp_path: Path) -> Path:
    top = tmp_path / "top"
    shutil.copytree(
        TOP / "coreboot-config" / "boards" / X230, top / "coreboot-config" / "boards" / X230
    )
    (top / "linuxboot" / "kernel").mkdir(parents=True)
    (top / "linuxboot" / "kernel" / "x86_64.config").write_text("")
    return top


def edited_x230(tmp_path: Path, old: str, new: str) -> tuple[Path, Path]:
    top = x230_top(tmp_path)
    path = top / "coreboot-config" / "boards" / X230 / "board.toml"
    text = path.read_text()
    assert old in text, old
    path.write_text(text.replace(old, new, 1))
    return top, path


def test_x230_has_no_qemu_and_its_flash_regions_are_read():
    board = load_board(TOP, X230)
    assert board.qemu is None
    assert [r.name for r in board.flash.regions] == ["fd", "gbe", "me", "bios"]
    assert board.flash.region("bios").start == 0x500000
    assert board.flash.write == ("bios",) and board.flash.fmap_area == "BIOS"
    assert board.describe()["qemu_machine"] is None
    assert board.describe()["flash"]["write"] == ["bios"]
    with pytest.raises(BoardError, match="cannot boot in QEMU"):
        board.qemu_command(Path("coreboot.rom"))
    with pytest.raises(BoardError, match="cannot boot in QEMU"):
        board.disk_args(Path("disk.img"))


@pytest.mark.parametrize(
    "old, new, expected",
    [
        ('layout = "ifd"', 'layout = "fmap"', "[flash]: layout: 'fmap' is not one of ifd"),
        (
            "end = 0xbfffff",
            "end = 0xc00000",
            "[flash] regions[3]: end: 0x500000-0xc00000 is not inside the 0xc00000-byte flash",
        ),
        ("start = 0x000000", "start = -1", "[flash] regions[0]: start: -0x1-0xfff is not inside"),
        ("start = 0x003000", "start = 0x002000", "[flash]: regions: gbe and me overlap"),
        ('name = "gbe"', 'name = "fd"', "[flash]: regions: the name 'fd' appears twice"),
        (
            'write = ["bios"]',
            'write = ["BIOS"]',
            "[flash]: write: must name regions of the list (fd, gbe, me, bios)",
        ),
        ('write = ["bios"]', "write = []", "[flash]: write: must name regions of the list"),
        (
            'write = ["bios"]',
            'write = ["bios", "me"]',
            "[flash]: write: names one region (the one fmap_area fills)",
        ),
        ('{ name = "fd",', '{ nmae = "fd",', "[flash] regions[0]: name: missing (is 'nmae' a typo"),
        (
            "start = 0x000000",
            "start = true",
            "[flash] regions[0]: start: expected an integer, got a boolean",
        ),
        ("fmap_area = ", "fmap_aera = ", "[flash]: fmap_area: missing (is 'fmap_aera' a typo"),
        ('layout = "ifd"', 'layout = "ifd"\nlayuot = "ifd"', "[flash]: unknown key 'layuot'"),
    ],
)
def test_flash_table_is_refused_in_one_line_naming_the_key(tmp_path, old, new, expected):
    top, path = edited_x230(tmp_path, old, new)
    with pytest.raises(BoardError) as caught:
        load_board(top, X230)
    message = str(caught.value)
    assert message.startswith(f"{path}: ") and "\n" not in message
    assert expected in message


def test_a_misspelled_qemu_table_is_refused_not_read_as_no_qemu(tmp_path):
    top, _path = edited_x230(tmp_path, "[flash]", "[qemuu]\nsmp = 1\n\n[flash]")
    with pytest.raises(BoardError, match=r"unknown key 'qemuu' \(did you mean 'qemu'\?\)"):
        load_board(top, X230)


LABGRID = """\
[lab]
labgrid_coordinator = "coordinator.lab:20408"

[places.bench-3]
board = "qemu-q35"

[places.bench-3.labgrid]
{labgrid}
[places.bench-3.flashrom]
chip = "W25Q128.V"
size = 16777216
{flashrom}
{rest}
"""


def labgrid_config(tmp_path: Path, labgrid: str = "", flashrom: str = "", rest: str = ""):
    path = tmp_path / "lab.toml"
    path.write_text(LABGRID.format(labgrid=labgrid, flashrom=flashrom, rest=rest))
    return path


def test_labgrid_place_takes_coordinator_from_lab_and_needs_no_console_or_power(tmp_path):
    config = load_lab_config(
        labgrid_config(tmp_path, rest="[places.bench-3.power]\ncycle_delay = 2.0\n")
    )
    place = config.place("bench-3")
    assert place.labgrid.place == "bench-3"
    assert place.labgrid.coordinator == "coordinator.lab:20408"
    assert place.flashrom.programmer == "" and place.power.on == () and place.power.off == ()
    assert place.power.cycle is None and place.power.cycle_delay == 2.0
    assert place.console == TcpConsole("labgrid", 1)


def test_labgrid_table_names_its_place_coordinator_and_resources(tmp_path, monkeypatch):
    monkeypatch.delenv("LG_COORDINATOR", raising=False)
    config = load_lab_config(
        labgrid_config(
            tmp_path,
            labgrid='place = "rack-2-slot-3"\ncoordinator = "[::1]:20408"\n'
            'flashrom = "clip"\nserial = "uart0"\npower = "pdu"\n',
        )
    )
    lg = config.place("bench-3").labgrid
    assert (lg.place, lg.coordinator, lg.flashrom, lg.serial, lg.power) == (
        "rack-2-slot-3",
        "[::1]:20408",
        "clip",
        "uart0",
        "pdu",
    )
    assert lg.describe() == "labgrid rack-2-slot-3@[::1]:20408"


@pytest.mark.parametrize(
    "labgrid, flashrom, rest, expected",
    [
        (
            "",
            'programmer = "ch341a_spi"',
            "",
            "place 'bench-3' [flashrom]: programmer: comes from the labgrid place's "
            "NetworkFlashrom",
        ),
        (
            "",
            "",
            '[places.bench-3.power]\non = "pdu on 3"',
            "place 'bench-3' [power]: on: comes from the labgrid place's power resource",
        ),
        (
            "",
            "",
            '[places.bench-3.console]\ntcp = "ser2net.lab:7003"',
            "place 'bench-3': console: comes from the labgrid place's NetworkSerialPort; remove it",
        ),
        (
            'plcae = "x"',
            "",
            "",
            "place 'bench-3' [labgrid]: unknown key 'plcae' (did you mean 'place'?)",
        ),
        (
            'coordinator = "no such host"',
            "",
            "",
            "place 'bench-3' [labgrid]: coordinator: expected HOST[:PORT] of a labgrid coordinator",
        ),
        ('place = ""', "", "", "place 'bench-3' [labgrid]: place: must not be empty"),
        (
            "serial = 1",
            "",
            "",
            "place 'bench-3' [labgrid]: serial: expected a string, got an integer",
        ),
        (
            "",
            "",
            "[places.bench-3.power]\ncycle_delay = true",
            "place 'bench-3' [power]: cycle_delay: expected an integer or a number, got a boolean",
        ),
    ],
)
def test_labgrid_place_refusals_are_one_line_naming_the_key(
    tmp_path, labgrid, flashrom, rest, expected
):
    path = labgrid_config(tmp_path, labgrid, flashrom, rest)
    with pytest.raises(ConfigError) as caught:
        load_lab_config(path)
    message = str(caught.value)
    assert message.startswith(f"{path}: ") and "\n" not in message
    assert expected in message


def test_labgrid_coordinator_falls_back_to_the_environment_or_is_refused(tmp_path, monkeypatch):
    path = labgrid_config(tmp_path)
    path.write_text(path.read_text().replace('labgrid_coordinator = "coordinator.lab:20408"\n', ""))
    monkeypatch.setenv("LG_COORDINATOR", "env.lab:20408")
    assert load_lab_config(path).place("bench-3").labgrid.coordinator == "env.lab:20408"
    monkeypatch.delenv("LG_COORDINATOR")
    with pytest.raises(
        ConfigError,
        match=r"place 'bench-3' \[labgrid\]: coordinator: missing: "
        r"set it here, labgrid_coordinator in \[lab\]",
    ):
        load_lab_config(path)


def test_lab_labgrid_coordinator_is_checked(tmp_path):
    path = labgrid_config(tmp_path)
    path.write_text(path.read_text().replace('"coordinator.lab:20408"', '"a/b"', 1))
    with pytest.raises(ConfigError, match=r"\[lab\]: labgrid_coordinator: expected HOST\[:PORT\]"):
        load_lab_config(path)


@pytest.mark.parametrize(
    "drop, expected",
    [
        ('programmer = "ch341a_spi"\n', "place 'bench-1' [flashrom]: programmer: missing key"),
        (
            '[places.bench-1.console]\ntcp = "ser2net.lab:7003"\n',
            "place 'bench-1': console: missing key 'console'",
        ),
        (
            '[places.bench-1.power]\non = "pdu on 3"\noff = "pdu off 3"\n',
            "place 'bench-1': power: missing key 'power'",
        ),
        ('on = "pdu on 3"\n', "place 'bench-1' [power]: on: missing key 'on'"),
    ],
)
def test_a_place_without_labgrid_still_needs_programmer_power_and_console(tmp_path, drop, expected):
    text = """\
[places.bench-1]
board = "qemu-q35"

[places.bench-1.flashrom]
programmer = "ch341a_spi"
chip = "W25Q128.V"
size = 12582912

[places.bench-1.power]
on = "pdu on 3"
off = "pdu off 3"

[places.bench-1.console]
tcp = "ser2net.lab:7003"
"""
    path = tmp_path / "lab.toml"
    path.write_text(text)
    assert load_lab_config(path).place("bench-1").flashrom.size == 12582912  # 8 + 4 MiB
    assert drop in text
    path.write_text(text.replace(drop, ""))
    with pytest.raises(ConfigError) as caught:
        load_lab_config(path)
    assert str(caught.value).startswith(f"{path}: ") and expected in str(caught.value)
