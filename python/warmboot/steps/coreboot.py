"""Building coreboot 4.15: its make environment, the patches in
coreboot-config/patches/4.15/, and the tools whose versions a build records."""

from __future__ import annotations

import shutil
from pathlib import Path

from ..toolchain import tool_version
from .run import host_env

COREBOOT_SERIES = "4.15"
LIBPMT = "payloads/libpmt"


def make_env(src: Path) -> dict[str, str]:
    version = (
        (src / ".coreboot-version").read_text().strip()
        if (src / ".coreboot-version").exists()
        else COREBOOT_SERIES
    )
    return host_env(
        {
            # Fixed build date and no git lookups: two builds give the same bytes,
            # and the warmboot checkout around build/ never leaks into the image.
            "BUILD_TIMELESS": "1",
            "KERNELVERSION": version,
            "GIT_CEILING_DIRECTORIES": str(src.parent),
        }
    )


# What a fresh copy of the verified tree must not carry into the build.
LEFTOVERS = (".config", ".xcompile", "build")


def tool_versions() -> dict[str, str]:
    return {
        "gcc": tool_version(["gcc", "--version"]),
        "ld": tool_version(["ld", "--version"]),
        "iasl": tool_version(["iasl", "-v"]) if shutil.which("iasl") else "missing",
        "make": tool_version(["make", "--version"]),
    }
