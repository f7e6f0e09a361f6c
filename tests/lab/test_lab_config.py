"""The lab configuration: typed settings from TOML, and errors that name the place and key."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from labkit import place_toml
from warmboot.lab.config import (
    DEFAULT_MARKERS,
    FlashromSettings,
    PowerSettings,
    SerialConsole,
    TcpConsole,
    load_lab_config,
    parse_lab_config,
)
from warmboot.lab.errors import ConfigError
from wbtest import TOP

MINIMAL = place_toml(
    "bench-1",
    programmer="ch341a_spi",
    chip="W25Q128.V",
    size=16 << 20,
    console='tcp = "ser2net.lab:7003"',
    on='"pdu on 3"',
    off='["pdu", "off", "3"]',
)


def test_minimal_place_parses_into_typed_settings_with_defaults(tmp_path):
    config = parse_lab_config(MINIMAL, tmp_path / "lab.toml")
    place = config.place("bench-1")
    assert place.flashrom == FlashromSettings(
        command=("flashrom",), programmer="ch341a_spi", chip="W25Q128.V", size=16 << 20
    )
    assert place.power == PowerSettings(on=("sh", "-c", "pdu on 3"), off=("pdu", "off", "3"))
    assert place.console == TcpConsole("ser2net.lab", 7003)
    assert place.boot.markers == place.boot.rollback_markers == DEFAULT_MARKERS
    assert config.lab.runs == tmp_path / "runs" and config.lab.locks == tmp_path / "locks"
    assert config.lab.root is None


def test_example_configuration_in_docs_is_valid():
    text = (TOP / "docs" / "lab.md").read_text()
    example = re.search(r"```toml\n(.*?)```", text, re.S).group(1)
    config = parse_lab_config(example, Path("/etc/warmboot/lab.toml"))
    place = config.place("bench-3")
    assert place.console == SerialConsole(
        Path("/dev/serial/by-id/usb-FTDI_FT232R_A9XYZ-if00-port0"), 115200
    )
    assert [m.name for m in place.boot.markers] == ["coreboot", "linuxboot"]
    assert place.boot.markers[1].compiled().search(b"warmboot: linuxboot ready")
    assert config.lab.root == Path("/etc/warmboot/root.json")


@pytest.mark.parametrize(
    "old, new, message",
    [
        ('chip = "W25Q128.V"\n', "", "place 'bench-1' [flashrom]: chip: missing"),
        (
            "programmer = ",
            "programer = ",
            "place 'bench-1' [flashrom]: programmer: missing (is 'programer' a typo of it?)",
        ),
        (
            'chip = "W25Q128.V"\n',
            'chip = "W25Q128.V"\nspeed = 1\n',
            "place 'bench-1' [flashrom]: unknown key 'speed'",
        ),
        (
            "size = 16777216",
            "size = 16000000",
            "[flashrom]: size: flash sizes are positive multiples of 4 KiB, got 16000000",
        ),
        ("size = 16777216", 'size = "16M"', "[flashrom]: size: expected an integer, got a string"),
        ('tcp = "ser2net.lab:7003"', 'tcp = "ser2net.lab"', "[console]: tcp: expected HOST:PORT"),
        (
            'tcp = "ser2net.lab:7003"',
            'device = "/dev/ttyUSB0"\nbaud = 115201',
            "[console]: baud: 115201 is not a baud rate",
        ),
        (
            'tcp = "ser2net.lab:7003"',
            'tcp = "a:1"\ndevice = "/dev/ttyS0"',
            "[console]: set exactly one of tcp",
        ),
        ('off = ["pdu", "off", "3"]', "off = []", "[power]: off: expected a command line string"),
        (
            'off = ["pdu", "off", "3"]',
            'off = "x"\ntimeout = true',
            "[power]: timeout: expected an integer or a number, got a boolean",
        ),
        (
            "size = 16777216",
            'size = 16777216\nlayout = "fmap"',
            '[flashrom]: regions: layout = "fmap" needs the regions to write',
        ),
        (
            "[places.bench-1.console]",
            '[places.bench-1.boot]\nmarkers = [{ name = "x", regex = "(" '
            "}]\n[places.bench-1.console]",
            "[boot] markers[0]: regex: invalid regular expression",
        ),
        ("[places.bench-1]", '[places."bench 1"]', "place 'bench 1': a place name is"),
    ],
)
def test_config_errors_name_the_file_the_place_and_the_key(tmp_path, old, new, message):
    assert old in MINIMAL
    path = tmp_path / "lab.toml"
    path.write_text(MINIMAL.replace(old, new, 1))
    with pytest.raises(ConfigError) as error:
        load_lab_config(path)
    assert str(error.value).startswith(str(path))
    assert message in str(error.value)


def test_unknown_place_names_the_places_there_are(tmp_path):
    config = parse_lab_config(MINIMAL, tmp_path / "lab.toml")
    with pytest.raises(ConfigError, match=r"no place 'bench-9' \(places: bench-1\)"):
        config.place("bench-9")


def test_invalid_toml_is_a_config_error_naming_the_line(tmp_path):
    with pytest.raises(ConfigError, match=r"lab.toml: not valid TOML: .*line 2"):
        parse_lab_config("[lab]\nruns = \n", tmp_path / "lab.toml")


@pytest.mark.parametrize("spelling", ["$WARMBOOT_LAB_TEST_UNSET", "${WARMBOOT_LAB_TEST_UNSET}"])
def test_unset_variable_in_a_path_is_refused_naming_it(tmp_path, monkeypatch, spelling):
    monkeypatch.delenv("WARMBOOT_LAB_TEST_UNSET", raising=False)
    monkeypatch.setenv("WARMBOOT_LAB_TEST_SET", str(tmp_path / "lab"))
    text = f'[lab]\nlocks = "$WARMBOOT_LAB_TEST_SET/locks"\nruns = "{spelling}/runs"\n' + MINIMAL
    with pytest.raises(
        ConfigError,
        match=r"\[lab\]: runs: \$WARMBOOT_LAB_TEST_UNSET is not "
        r"set",
    ):
        parse_lab_config(text, tmp_path / "lab.toml")
    config = parse_lab_config(
        text.replace(spelling, "${WARMBOOT_LAB_TEST_SET}"), tmp_path / "lab.toml"
    )
    assert config.lab.locks == tmp_path / "lab" / "locks"
    assert config.lab.runs == tmp_path / "lab" / "runs"
