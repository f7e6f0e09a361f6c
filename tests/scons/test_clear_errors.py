"""Mistakes stop the build at once with a message that names the problem."""

import os
import secrets
import shutil

import pytest

from warmboot import toolchain
from wbtest import copy_checkout, run_scons


def test_unknown_board_lists_the_known_boards():
    result = run_scons(["board=no-such-board"])
    assert result.returncode != 0
    assert "unknown board 'no-such-board'" in result.output
    assert "known boards: " in result.output
    known = result.output.split("known boards: ", 1)[1].splitlines()[0].split(", ")
    assert {"lenovo-x230", "qemu-q35", "qemu-virt"} <= set(known)


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


@pytest.mark.slow
def test_a_warning_in_site_local_code_fails_the_coreboot_build(tmp_path):
    # coreboot's own files build with CONFIG_WARNINGS_ARE_ERRORS=n; warmboot's
    # (coreboot-config/site-local/ and libpmt) with -Werror.
    checkout = copy_checkout(tmp_path / "checkout")
    source = checkout / "coreboot-config/site-local/warmboot/pmt_common.c"
    # -Wall warns about an unused variable; only -Werror makes that fatal.
    name = f"warmboot_werror_probe_{secrets.token_hex(4)}"
    source.write_text(source.read_text() + f"\nstatic int {name};\n")
    result = run_scons(
        ["board=qemu-q35", "build/qemu-q35/coreboot/coreboot-nopayload.rom"], cwd=checkout
    )
    assert result.returncode != 0, result.output[-3000:]
    assert "[coreboot]" in result.output
    log = (checkout / "build/qemu-q35/logs/coreboot.log").read_text()
    # LC_ALL=C: gcc quotes with plain apostrophes.
    assert f"'{name}' defined but not used [-Werror=unused-variable]" in log, log[-3000:]
