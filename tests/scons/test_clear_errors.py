"""Mistakes stop the build at once with a message that names the problem."""
import os
import shutil

from wbtest import run_scons
from warmboot import toolchain


def test_unknown_board_lists_the_known_boards():
    result = run_scons(["board=no-such-board"])
    assert result.returncode != 0
    assert "unknown board 'no-such-board'" in result.output
    assert "known boards: qemu-q35" in result.output


def test_missing_board_argument_says_how_to_give_one():
    result = run_scons([])
    assert result.returncode != 0
    assert "scons board=<board>" in result.output


def test_missing_tool_is_named_with_its_debian_package(tmp_path):
    # A PATH holding every required command except iasl.
    bindir = tmp_path / "bin"
    bindir.mkdir()
    needed = {r.what for r in toolchain.BUILD if r.kind == "command"} | {"git", "dpkg"}
    for name in needed - {"iasl"}:
        found = shutil.which(name)
        assert found, name
        os.symlink(found, bindir / name)
    env = {**os.environ, "PATH": str(bindir)}
    result = run_scons(["board=qemu-q35"], env=env)
    assert result.returncode != 0
    assert "iasl  (Debian package acpica-tools)" in result.output
    assert "apt-get install acpica-tools" in result.output
    assert "[coreboot]" not in result.output
