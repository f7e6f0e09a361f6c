"""The tools build as static executables for x86_64 and aarch64, and the
SCons tool builds the same bytes the tests run."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from elftools.elf.elffile import ELFFile

from payloadkit import build_tools
from warmboot.steps.payloads import TOOLS
from wbtest import TOP

CROSS = "aarch64-linux-gnu-gcc"
CROSS_LIBC = Path("/usr/aarch64-linux-gnu/include/stdio.h")
CROSS_KERNEL_HEADERS = Path("/usr/aarch64-linux-gnu/include/linux/kexec.h")


def assert_static(path: Path, machine: str) -> None:
    with open(path, "rb") as f:
        elf = ELFFile(f)
        assert elf["e_machine"] == machine
        segments = {seg["p_type"] for seg in elf.iter_segments()}
        assert "PT_INTERP" not in segments and "PT_DYNAMIC" not in segments, segments


@pytest.mark.parametrize("name", TOOLS)
def test_host_tools_are_static_x86_64_executables_that_print_usage(tools, name):
    assert_static(tools.path(name), "EM_X86_64")
    result = tools.run(name, "--help")
    assert result.returncode == 0 and result.stdout.startswith(f"usage: {name} ")
    bad = tools.run(name, "--no-such-option")
    assert bad.returncode != 0 and "usage:" in bad.stderr


def test_tools_build_static_for_aarch64(tmp_path):
    if shutil.which(CROSS) is None:
        pytest.skip(f"{CROSS} is not installed (Debian: gcc-aarch64-linux-gnu)")
    if not (CROSS_LIBC.exists() and CROSS_KERNEL_HEADERS.exists()):
        pytest.skip(
            "the aarch64 C library and kernel headers are not installed "
            "(Debian: libc6-dev-arm64-cross linux-libc-dev-arm64-cross)"
        )
    for name, result in build_tools(CROSS, tmp_path).items():
        assert result.returncode == 0, f"{CROSS} {name}:\n{result.stdout}"
        assert_static(tmp_path / name, "EM_AARCH64")


SCONSTRUCT = """\
import sys
sys.path.insert(0, {python!r})
from warmboot.boards import load_board
from warmboot.scons import payloads
env = Environment(tools=[])
env.Replace(WB_TOP={top!r}, WB_BUILD={build!r}, WB_LOGS={build!r} + "/logs", WB_BOARD="qemu-q35")
env.Tool(payloads.generate)
Default(list(env.PayloadTools(load_board({top!r}, "qemu-q35")).values()))
"""


def test_scons_tool_builds_the_same_binaries_and_then_nothing(tools, tmp_path):
    build = tmp_path / "build"
    (tmp_path / "SConstruct").write_text(
        SCONSTRUCT.format(python=str(TOP / "python"), top=str(TOP), build=str(build))
    )

    def scons():
        return subprocess.run(
            [sys.executable, "-m", "SCons", "-Q"],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=300,
        )

    first = scons()
    assert first.returncode == 0, first.stdout + first.stderr
    for name in TOOLS:
        # Deterministic: the SCons build and the fixture's are the same bytes.
        assert (build / "payloads" / name).read_bytes() == tools.path(name).read_bytes()
    log = (build / "logs" / "payloads.log").read_text()
    assert all(f"payloads/.{name}.tmp " in log for name in TOOLS), log
    second = scons()
    assert second.returncode == 0 and "[payloads]" not in second.stdout, second.stdout
