"""The host tools warmboot needs, and the Debian packages that provide them.

This module is the single list of Debian packages: ci/bootstrap runs it with
the system python3 (standard library only) to learn what to install, and the
SCons front end uses it to fail fast, naming the packages that are missing.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Requirement:
    """A command (or file) that must exist, and the package that provides it."""

    what: str
    package: str
    kind: str = "command"  # "command" or "file"
    purpose: str = ""

    def present(self, path: str | None = None) -> bool:
        if self.kind == "command":
            return shutil.which(self.what, path=path) is not None
        return Path(self.what).exists()


# What building and booting an x86_64 board needs.
BUILD = (
    Requirement("gcc", "build-essential", purpose="host and coreboot compiler"),
    Requirement("make", "build-essential"),
    Requirement(
        "/usr/lib/gcc/x86_64-linux-gnu/12/32/libgcc.a",
        "lib32gcc-12-dev",
        "file",
        "32-bit libgcc for coreboot's x86 stages (__udivdi3)",
    ),
    Requirement("iasl", "acpica-tools", purpose="coreboot ACPI tables"),
    Requirement("flex", "flex"),
    Requirement("bison", "bison"),
    Requirement("/usr/include/zlib.h", "zlib1g-dev", "file"),
    Requirement("/usr/include/libelf.h", "libelf-dev", "file", "Linux objtool"),
    Requirement("/usr/include/openssl/ssl.h", "libssl-dev", "file", "Linux host tools"),
    Requirement("bc", "bc", purpose="Linux timeconst"),
    Requirement("cpio", "cpio"),
    Requirement("xz", "xz-utils"),
    # Kernels (CONFIG_KERNEL_LZ4) and initramfs archives are LZ4.
    Requirement("lz4", "lz4"),
    Requirement("dpkg-source", "dpkg-dev", purpose="unpacking Debian source packages"),
    Requirement("apt-get", "apt"),
    Requirement("patch", "patch"),
    Requirement("python3", "python3"),
    Requirement("mke2fs", "e2fsprogs", purpose="the test OS disk"),
)

RUN_X86_64 = (Requirement("qemu-system-x86_64", "qemu-system-x86"),)

RUN_AARCH64 = (Requirement("qemu-system-aarch64", "qemu-system-arm"),)

# An arm64 board's payload: its device tree is compiled into the FIT.
FIT = (Requirement("dtc", "device-tree-compiler", purpose="the FIT payload's device tree"),)

# What the test suite uses to judge our outputs (later issues need them too).
TEST = (
    Requirement("dtc", "device-tree-compiler"),
    Requirement("readelf", "binutils"),
    Requirement("gdb", "gdb"),
    Requirement("gdb-multiarch", "gdb-multiarch", purpose="reading aarch64 vmcores"),
    Requirement("qemu-system-aarch64", "qemu-system-arm", purpose="QEMU virt device trees"),
    Requirement(
        "aarch64-linux-gnu-gcc",
        "gcc-aarch64-linux-gnu",
        purpose="building the C validator and payloads for aarch64",
    ),
    Requirement(
        "/usr/aarch64-linux-gnu/include/stdio.h",
        "libc6-dev-arm64-cross",
        "file",
        "static aarch64 payload tools",
    ),
    Requirement(
        "/usr/aarch64-linux-gnu/include/linux/kexec.h",
        "linux-libc-dev-arm64-cross",
        "file",
        "static aarch64 payload tools",
    ),
    Requirement("crash", "crash"),
    # Building crash(8) for arm64 dumps from Debian's source (make target=ARM64,
    # warmboot.vmcore.crash_arm64): the Build-Depends its gdb needs.
    Requirement("makeinfo", "texinfo", purpose="building crash for arm64 dumps"),
    Requirement("gawk", "gawk", purpose="building crash for arm64 dumps"),
    Requirement(
        "/usr/include/ncurses.h", "libncurses-dev", "file", "building crash for arm64 dumps"
    ),
    Requirement("/usr/include/mpfr.h", "libmpfr-dev", "file", "building crash for arm64 dumps"),
    # ... and the compressed dump formats it reads, as Debian builds it (lzo snappy zstd).
    Requirement(
        "/usr/include/lzo/lzo1x.h", "liblzo2-dev", "file", "building crash for arm64 dumps"
    ),
    Requirement(
        "/usr/include/snappy-c.h", "libsnappy-dev", "file", "building crash for arm64 dumps"
    ),
    Requirement("/usr/include/zstd.h", "libzstd-dev", "file", "building crash for arm64 dumps"),
    Requirement("makedumpfile", "makedumpfile"),
    Requirement("flashrom", "flashrom"),
    Requirement("kexec", "kexec-tools"),
)

# Packages with no single command to probe for, installed by ci/bootstrap.
EXTRA_PACKAGES = ("python3-venv", "ca-certificates", "git")

CROSS_PACKAGES = {"aarch64-linux-gnu-": "gcc-aarch64-linux-gnu"}


def cross_requirements(prefix: str) -> tuple[Requirement, ...]:
    package = CROSS_PACKAGES.get(prefix, f"gcc-{prefix.rstrip('-')}")
    return (Requirement(prefix + "gcc", package, purpose="cross compiler"),)


GROUPS = {
    "build": BUILD,
    "run-x86_64": RUN_X86_64,
    "run-aarch64": RUN_AARCH64,
    "fit": FIT,
    "test": TEST,
}


class ToolchainError(Exception):
    """Required host tools are missing."""


def missing(requirements, path: str | None = None) -> list[Requirement]:
    return [r for r in requirements if not r.present(path)]


def check(requirements, path: str | None = None) -> None:
    """Raise ToolchainError naming every missing tool and its Debian package."""
    gone = missing(requirements, path)
    if not gone:
        return
    packages = sorted({r.package for r in gone})
    lines = [f"  {r.what}  (Debian package {r.package})" for r in gone]
    raise ToolchainError(
        "missing host tools:\n"
        + "\n".join(lines)
        + "\ninstall them with:  apt-get install "
        + " ".join(packages)
        + "\n(or run ./ci/bootstrap, which installs everything warmboot needs)"
    )


def all_packages() -> list[str]:
    names = {r.package for group in GROUPS.values() for r in group}
    names.update(EXTRA_PACKAGES)
    return sorted(names)


def tool_version(command: list[str]) -> str:
    """First line of a tool's version output, for the build manifest."""
    try:
        out = subprocess.run(
            command, capture_output=True, text=True, timeout=20, env={**os.environ, "LC_ALL": "C"}
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"unavailable ({exc.__class__.__name__})"
    lines = [ln.strip() for ln in (out.stdout or out.stderr).splitlines() if ln.strip()]
    # The first line that carries a version number (iasl starts with a banner).
    for line in lines:
        if re.search(r"\d+\.\d+|\d{8}", line):
            return line
    return lines[0] if lines else "unknown"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--packages",
        action="store_true",
        help="print every Debian package warmboot needs, one per line",
    )
    parser.add_argument("--check", action="store_true", help="exit non-zero naming missing tools")
    args = parser.parse_args(argv)
    if args.packages:
        print("\n".join(all_packages()))
    if args.check:
        try:
            for group in GROUPS.values():
                check(group)
        except ToolchainError as exc:
            print(f"warmboot: {exc}", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
