"""The C validator builds, warning-free and freestanding, for every place
firmware runs it: 32- and 64-bit x86 coreboot stages and aarch64 LinuxBoot.
It must not need libgcc (no 64-bit division helpers) or libc beyond
memcpy/memset."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

LIBPMT = Path(__file__).resolve().parents[2] / "payloads" / "libpmt"
FLAGS = [
    "-std=c11",
    "-ffreestanding",
    "-nostdinc",
    "-fno-builtin",
    "-Wall",
    "-Wextra",
    "-Werror",
    "-Wshadow",
    "-Wconversion",
    "-Wno-sign-conversion",
    "-Wstrict-prototypes",
    "-Wmissing-prototypes",
    "-Wvla",
    "-mgeneral-regs-only",
]
# Symbols a freestanding object may still reference: the compiler's own
# memcpy/memset for struct copies, and the GOT base of 32-bit PIC.
ALLOWED_UNDEFINED = {"memcpy", "memset", "_GLOBAL_OFFSET_TABLE_"}

TARGETS = [
    ("x86_64", "gcc", []),
    ("i386", "gcc", ["-m32"]),
    ("aarch64", "aarch64-linux-gnu-gcc", []),
]


@pytest.mark.parametrize("opt", ["-O0", "-Os", "-O2"])
@pytest.mark.parametrize("name, cc, arch", TARGETS, ids=[t[0] for t in TARGETS])
def test_validator_builds_freestanding(
    tmp_path: Path, name: str, cc: str, arch: list[str], opt: str
) -> None:
    if shutil.which(cc) is None:
        pytest.skip(f"{cc} is not installed (Debian: gcc-aarch64-linux-gnu)")
    include = subprocess.run(
        [cc, *arch, "-print-file-name=include"], capture_output=True, text=True, check=True
    ).stdout.strip()
    obj = tmp_path / f"pmt_validate-{name}.o"
    flags = [f for f in FLAGS if not (f == "-mgeneral-regs-only" and name != "aarch64")]
    build = subprocess.run(
        [
            cc,
            *arch,
            *flags,
            opt,
            "-isystem",
            include,
            "-I",
            str(LIBPMT),
            "-c",
            str(LIBPMT / "pmt_validate.c"),
            "-o",
            str(obj),
        ],
        capture_output=True,
        text=True,
    )
    assert build.returncode == 0, build.stderr
    nm = shutil.which(cc.replace("gcc", "nm")) or "nm"
    undefined = subprocess.run(
        [nm, "-u", str(obj)], capture_output=True, text=True, check=True
    ).stdout.split()
    names = {s for s in undefined if s != "U"}
    assert names <= ALLOWED_UNDEFINED, f"{name} {opt} needs {sorted(names - ALLOWED_UNDEFINED)}"
    data = subprocess.run(
        [nm, "--defined-only", str(obj)], capture_output=True, text=True, check=True
    ).stdout
    # No writable globals: only text (T/t) and read-only data (R/r) symbols.
    kinds = {line.split()[1] for line in data.splitlines() if len(line.split()) == 3}
    assert kinds <= {"T", "t", "R", "r"}, data
