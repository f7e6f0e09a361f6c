"""board.toml, sources.lock.toml and lab.toml are read against a schema (warmboot.tomlschema):
a misspelled key, a value of the wrong type or a missing key is refused in one line naming
the file, the key and the reason, as the module's own exception."""

from __future__ import annotations

import re
import shutil
import tomllib
from collections.abc import Callable
from pathlib import Path

import pytest

from warmboot.boards import BoardError, known_boards, load_board
from warmboot.lab.config import SerialConsole, load_lab_config, parse_lab_config
from warmboot.lab.errors import ConfigError
from warmboot.sources import LockError, load_lock
from wbtest import TOP

LOCK = TOP / "coreboot-config" / "sources.lock.toml"

LAB = """\
[lab]
download_timeout = 30

[places.bench-1]
board = "qemu-q35"

[places.bench-1.flashrom]
programmer = "ch341a_spi"
chip = "W25Q128.V"
size = 16777216

[places.bench-1.power]
on = "pdu on 3"
off = "pdu off 3"

[places.bench-1.console]
device = "/dev/ttyUSB0"
baud = 115200
"""


def board_top(tmp_path: Path, board: str = "qemu-q35", keep_testos_extras: bool = False) -> Path:
    """A checkout holding one real board directory and its kernel config fragments;
    its [testos] patches and host_tools are dropped unless keep_testos_extras."""
    top = tmp_path / "top"
    shutil.copytree(
        TOP / "coreboot-config" / "boards" / board, top / "coreboot-config" / "boards" / board
    )
    path = top / "coreboot-config" / "boards" / board / "board.toml"
    data = tomllib.loads(path.read_text())
    for fragment in data["linux"]["config"] + data.get("testos", {}).get("config", []):
        (top / fragment).parent.mkdir(parents=True, exist_ok=True)
        (top / fragment).write_text("")
    if not keep_testos_extras:
        path.write_text(
            "".join(
                line
                for line in path.read_text().splitlines(keepends=True)
                if not line.startswith(("patches = ", "host_tools = "))
            )
        )
    return top


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, 1))


def load_edited(kind: str, tmp_path: Path, old: str, new: str) -> tuple[Path, type, Callable]:
    """Write one config file of `kind` with `old` replaced by `new`; return its path,
    the module's exception type and a function that loads it."""
    if kind == "board":
        top = board_top(tmp_path)
        path = top / "coreboot-config/boards/qemu-q35/board.toml"
        edit(path, old, new)
        return path, BoardError, lambda: load_board(top, "qemu-q35")
    if kind == "lock":
        path = tmp_path / "sources.lock.toml"
        shutil.copy(LOCK, path)
        edit(path, old, new)
        return path, LockError, lambda: load_lock(path)
    path = tmp_path / "lab.toml"
    path.write_text(LAB)
    edit(path, old, new)
    return path, ConfigError, lambda: load_lab_config(path)


def refusal(kind: str, tmp_path: Path, old: str, new: str) -> str:
    path, error, load = load_edited(kind, tmp_path, old, new)
    with pytest.raises(error) as caught:
        load()
    message = str(caught.value)
    assert message.startswith(f"{path}: ") and "\n" not in message
    return message


@pytest.mark.parametrize(
    "kind, old, new, expected",
    [
        ("board", "smp = 2", "spm = 2", "[qemu]: smp: missing (is 'spm' a typo of it?)"),
        (
            "board",
            'cross_compile = ""',
            'cross_compil = ""',
            "[linux]: unknown key 'cross_compil' (did you mean 'cross_compile'?)",
        ),
        (
            "board",
            'description = "',
            'descripton = "',
            "unknown key 'descripton' (did you mean 'description'?)",
        ),
        (
            "lock",
            'override = "COREBOOT_SRC"',
            'overide = "COREBOOT_SRC"',
            "[sources.coreboot]: unknown key 'overide' (did you mean 'override'?)",
        ),
        (
            "lock",
            'version = "4.15"',
            'verison = "4.15"',
            "[sources.coreboot]: version: missing (is 'verison' a typo of it?)",
        ),
        (
            "lab",
            "download_timeout = 30",
            "download_timout = 30",
            "[lab]: unknown key 'download_timout' (did you mean 'download_timeout'?)",
        ),
        (
            "lab",
            'device = "/dev/ttyUSB0"',
            'devcie = "/dev/ttyUSB0"',
            "place 'bench-1' [console]: unknown key 'devcie' (did you mean 'device'?)",
        ),
    ],
)
def test_misspelled_key_is_refused_with_a_did_you_mean_naming_file_and_key(
    tmp_path, kind, old, new, expected
):
    assert expected in refusal(kind, tmp_path, old, new)


@pytest.mark.parametrize(
    "kind, old, new, expected",
    [
        ("board", "smp = 2", "smp = true", "[qemu]: smp: expected an integer, got a boolean"),
        (
            "board",
            "disk_mib = 2048",
            "disk_mib = false",
            "[testos]: disk_mib: expected an integer, got a boolean",
        ),
        (
            "board",
            "baud = 115200",
            "baud = true",
            "[console]: baud: expected an integer, got a boolean",
        ),
        # The lock has no integers: a boolean is refused where a string belongs.
        (
            "lock",
            'version = "4.15"',
            "version = true",
            "[sources.coreboot]: version: expected a string, got a boolean",
        ),
        (
            "lab",
            "size = 16777216",
            "size = true",
            "place 'bench-1' [flashrom]: size: expected an integer, got a boolean",
        ),
        (
            "lab",
            "download_timeout = 30",
            "download_timeout = true",
            "[lab]: download_timeout: expected an integer or a number, got a boolean",
        ),
    ],
)
def test_boolean_where_an_integer_belongs_is_refused(tmp_path, kind, old, new, expected):
    assert expected in refusal(kind, tmp_path, old, new)


@pytest.mark.parametrize(
    "kind, old, new, expected",
    [
        (
            "board",
            "rom_size_kib = 16384",
            'rom_size_kib = "16M"',
            "[coreboot]: rom_size_kib: expected an integer, got a string",
        ),
        (
            "board",
            'firmware = ["-bios", "{rom}"]',
            'firmware = ["-bios", 1]',
            "[qemu]: firmware[1]: expected a string, got an integer",
        ),
        (
            "board",
            'firmware = ["-bios", "{rom}"]',
            'firmware = "-bios"',
            "[qemu]: firmware: expected a list, got a string",
        ),
        (
            "board",
            'handoff = "coreboot-table"',
            "handoff = 1",
            "board.toml: handoff: expected a string, got an integer",
        ),
        (
            "lock",
            'sha256 = "63b135f58b231665139ec80a9b2f1569a9b5313c4c2a51c0991a73a67d2750b4"',
            "sha256 = 1",
            "[sources.coreboot] files[0]: sha256: expected a string, got an integer",
        ),
        (
            "lock",
            'override = "COREBOOT_SRC"',
            'override = ["COREBOOT_SRC"]',
            "[sources.coreboot]: override: expected a string, got a list",
        ),
        (
            "lab",
            'on = "pdu on 3"',
            "on = 3",
            "place 'bench-1' [power]: on: expected a string or a list, got an integer",
        ),
        (
            "lab",
            'chip = "W25Q128.V"',
            'chip = ["W25Q128.V"]',
            "place 'bench-1' [flashrom]: chip: expected a string, got a list",
        ),
        (
            "lab",
            "[lab]\ndownload_timeout = 30\n",
            "lab = 30\n",
            "lab.toml: lab: expected a table, got an integer",
        ),
    ],
)
def test_wrong_type_is_refused_naming_the_keys_path(tmp_path, kind, old, new, expected):
    assert expected in refusal(kind, tmp_path, old, new)


@pytest.mark.parametrize(
    "kind, old, new, expected",
    [
        ("board", 'memory = "1G"\n', "", "[qemu]: memory: missing key 'memory'"),
        ("board", 'arch = "x86_64"\nhandoff', "handoff", ": arch: missing key 'arch'"),
        ("board", "[initramfs]\nbusybox", "[initramfs]\n#", "initramfs]: busybox: missing"),
        (
            "lock",
            'kind = "debian-source"\npackage = "coreboot"',
            'package = "coreboot"',
            "[sources.coreboot]: kind: missing key 'kind'",
        ),
        (
            "lock",
            'name = "coreboot_4.15~dfsg-3.dsc"\n',
            "",
            "[sources.coreboot] files[0]: name: missing key 'name'",
        ),
        ("lab", 'board = "qemu-q35"\n', "", "place 'bench-1': board: missing key 'board'"),
        ("lab", 'off = "pdu off 3"\n', "", "place 'bench-1' [power]: off: missing key 'off'"),
    ],
)
def test_missing_required_key_is_named(tmp_path, kind, old, new, expected):
    assert expected in refusal(kind, tmp_path, old, new)


def test_every_board_in_the_repo_loads():
    boards = known_boards(TOP)
    assert {"qemu-q35", "qemu-virt"} <= set(boards)
    for name in boards:
        board = load_board(TOP, name)
        assert board.name == name
        # No QEMU machine models lenovo-x230: its board.toml has no [qemu].
        assert board.qemu is None or board.qemu.smp >= 1
        assert all(p.is_file() for p in board.linux.config)
    x230 = load_board(TOP, "lenovo-x230")
    assert x230.qemu is None and x230.flash.write == ("bios",)


def test_real_lock_and_documented_lab_configuration_load():
    assert "coreboot" in load_lock(LOCK).sources
    text = (TOP / "docs" / "lab.md").read_text()
    for example in re.findall(r"```toml\n(.*?)```", text, re.S):
        config = parse_lab_config(example, Path("/etc/warmboot/lab.toml"))
        assert config.places
    config = parse_lab_config(LAB, Path("/etc/warmboot/lab.toml"))
    assert config.place("bench-1").console == SerialConsole(Path("/dev/ttyUSB0"), 115200)


def test_testos_patches_expand_directories_in_name_order_and_host_tools_are_read(tmp_path):
    top = board_top(tmp_path)
    patches = top / "linuxboot" / "testos" / "patches"
    patches.mkdir(parents=True)
    for name in ("0002-b.patch", "0001-a.patch", "README"):
        (patches / name).write_text("")
    (top / "extra.patch").write_text("")
    edit(
        top / "coreboot-config/boards/qemu-q35/board.toml",
        "disk_mib = 2048",
        'disk_mib = 2048\npatches = ["extra.patch", "linuxboot/testos/patches"]\n'
        'host_tools = ["flex", "bison"]',
    )
    board = load_board(top, "qemu-q35")
    assert board.testos.kernel.patches == (
        top / "extra.patch",
        patches / "0001-a.patch",
        patches / "0002-b.patch",
    )
    assert board.testos.host_tools == ("flex", "bison")
    assert board.linux.patches == ()


def test_testos_without_patches_or_host_tools_reads_them_as_empty(tmp_path):
    board = load_board(board_top(tmp_path), "qemu-q35")
    assert board.testos.kernel.patches == () and board.testos.host_tools == ()


@pytest.mark.parametrize(
    "entries, expected",
    [
        ('["no/such.patch"]', "[testos]: patches: "),
        ('["linuxboot/testos/empty"]', "holds no *.patch files"),
        ('"one.patch"', "[testos]: patches: expected a list, got a string"),
    ],
)
def test_testos_patches_that_do_not_exist_are_refused(tmp_path, entries, expected):
    top = board_top(tmp_path)
    (top / "linuxboot/testos/empty").mkdir(parents=True)
    path = top / "coreboot-config/boards/qemu-q35/board.toml"
    edit(path, "disk_mib = 2048", f"disk_mib = 2048\npatches = {entries}")
    with pytest.raises(BoardError) as caught:
        load_board(top, "qemu-q35")
    assert str(caught.value).startswith(f"{path}: ") and expected in str(caught.value)


def test_virt_takes_its_makedumpfile_from_pinned_arm64_packages():
    board = load_board(TOP, "qemu-virt")
    assert board.testos.sysroot_programs == ("/usr/bin/makedumpfile",)
    lock = load_lock(TOP / "coreboot-config" / "sources.lock.toml")
    for name in board.testos.sysroot_sources:
        pinned = lock.get(name)
        assert (pinned.kind, pinned.architecture) == ("debian-binary", "arm64"), name


@pytest.mark.parametrize(
    "added, expected",
    [
        ('sysroot_programs = ["/usr/bin/x"]', "sysroot_programs and sysroot_sources go together"),
        ('sysroot_sources = ["x-arm64"]', "sysroot_programs and sysroot_sources go together"),
        (
            'sysroot_programs = ["usr/bin/x"]\nsysroot_sources = ["x-arm64"]',
            "[testos]: sysroot_programs: 'usr/bin/x' is not an absolute path",
        ),
    ],
)
def test_sysroot_programs_need_their_packages_and_absolute_paths(tmp_path, added, expected):
    top = board_top(tmp_path)
    path = top / "coreboot-config/boards/qemu-q35/board.toml"
    edit(path, "disk_mib = 2048", f"disk_mib = 2048\n{added}")
    with pytest.raises(BoardError) as caught:
        load_board(top, "qemu-q35")
    assert str(caught.value).startswith(f"{path}: ") and expected in str(caught.value)
