"""Configuring and making Linux 6.1 out of tree (O=), for a board's
LinuxBoot kernel and the test OS kernel alike: tinyconfig plus the board's
fragments, and a check that every option a fragment asked for survived,
because Kconfig silently drops options whose dependencies are unmet."""

from __future__ import annotations

from pathlib import Path

from ..toolchain import tool_version
from .kconfig import check_config, config_options
from .run import run_logged

# Pinned so that the kernel's version string (uname -v) never varies.
KBUILD_ENV = {
    "KBUILD_BUILD_TIMESTAMP": "1970-01-01 00:00:00 UTC",
    "KBUILD_BUILD_USER": "warmboot",
    "KBUILD_BUILD_HOST": "warmboot",
    "KBUILD_BUILD_VERSION": "1",
}


def kernel_make(src: Path, obj: Path, spec) -> list[str]:
    cmd = ["make", "-C", str(src), f"O={obj}", f"ARCH={spec.arch}"]
    if spec.cross_compile:
        cmd.append(f"CROSS_COMPILE={spec.cross_compile}")
    return cmd


def configure_kernel(src: Path, obj: Path, spec, log: Path, env: dict[str, str]) -> str:
    """tinyconfig + fragments -> obj/.config; returns the merged config text."""
    make = kernel_make(src, obj, spec)
    obj.mkdir(parents=True, exist_ok=True)
    run_logged("linux", "make tinyconfig", [*make, "tinyconfig"], log, env=env)
    fragments = [str(p) for p in spec.config]
    run_logged(
        "linux",
        "merging config fragments",
        [
            str(src / "scripts/kconfig/merge_config.sh"),
            "-m",
            "-O",
            str(obj),
            str(obj / ".config"),
            *fragments,
        ],
        log,
        cwd=src,
        env=env,
    )
    run_logged("linux", "make olddefconfig", [*make, "olddefconfig"], log, env=env)
    merged = (obj / ".config").read_text()
    wanted: dict[str, str | None] = {}
    for frag in spec.config:
        wanted.update(config_options(Path(frag).read_text()))
    check_config("linux", wanted, merged)
    return merged


def tool_versions() -> dict[str, str]:
    return {
        "ld": tool_version(["ld", "--version"]),
        "make": tool_version(["make", "--version"]),
        "bc": tool_version(["bc", "--version"]),
    }
