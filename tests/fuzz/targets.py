"""The fuzz targets: their harnesses and, for C, the sources each links.

Shared by tests/fuzz/run (fuzzing with clang's libFuzzer or atheris) and
tests/fuzz/test_fuzz_corpora_replay.py (CI's replay with gcc and plain
Python). docs/fuzzing.md describes them and what the runs found.
"""

from __future__ import annotations

from pathlib import Path

TOP = Path(__file__).resolve().parents[2]
FUZZ = TOP / "tests" / "fuzz"
CORPUS = FUZZ / "corpus"

# Firmware code compiled for the host: tests/fuzz/c/host/ stands in for the
# coreboot headers it includes (Kconfig values of qemu-q35, ARRAY_SIZE).
FIRMWARE = TOP / "coreboot-config" / "site-local" / "warmboot"

C_INCLUDES = (TOP / "payloads" / "libpmt", TOP / "payloads" / "common")

C_TARGETS: dict[str, tuple[Path, ...]] = {
    "pmt_validate": (FUZZ / "c" / "fuzz_pmt_validate.c", TOP / "payloads/libpmt/pmt_validate.c"),
    "elfcore": (
        FUZZ / "c" / "fuzz_elfcore.c",
        TOP / "payloads/common/elfcore.c",
        TOP / "payloads/common/wbutil.c",
    ),
    "cbtable": (
        FUZZ / "c" / "fuzz_cbtable.c",  # includes payloads/common/cbtable.c
        TOP / "payloads/common/physmem.c",
        TOP / "payloads/common/wbutil.c",
    ),
    "dtfw": (
        FUZZ / "c" / "fuzz_dtfw.c",
        TOP / "payloads/common/dtfw.c",
        TOP / "payloads/common/physmem.c",
        TOP / "payloads/common/wbutil.c",
    ),
    "warmboot_check": (
        FUZZ / "c" / "fuzz_warmboot_check.c",
        FIRMWARE / "pmt_common.c",
        TOP / "payloads/libpmt/pmt_validate.c",
    ),
}

PY_TARGETS: dict[str, Path] = {
    "release": FUZZ / "py" / "fuzz_release.py",
    "lab": FUZZ / "py" / "fuzz_lab.py",
}


def c_flags(target: str) -> list[str]:
    """Include flags for a C target (firmware targets also see the host stubs)."""
    flags = [f"-I{p}" for p in C_INCLUDES]
    if target in FIRMWARE_TARGETS:
        flags += [
            f"-I{FUZZ / 'c' / 'host'}",
            f"-I{FIRMWARE}",
            "-include",
            str(FUZZ / "c" / "host" / "kconfig.h"),
        ]
    return flags


FIRMWARE_TARGETS = {"warmboot_check"}


def corpus_files(target: str) -> list[Path]:
    directory = CORPUS / target
    return sorted(p for p in directory.iterdir() if p.is_file()) if directory.is_dir() else []
