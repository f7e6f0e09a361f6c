"""Fixtures for the crash-dump end-to-end tests (harness in crashlab.py)."""

import shutil

import pytest

from crashlab import Lab, build_crash_images
from warmboot.boards import load_board
from warmboot.vmcore import crash_arm64
from wbtest import TOP


@pytest.fixture(scope="session")
def crash_images():
    """The ROM, the test OS disk and its vmlinux, built by scons."""
    return build_crash_images()


@pytest.fixture
def lab(crash_images, tmp_path, request):
    lab = Lab(crash_images, tmp_path, request.node.name)
    yield lab
    # A gigabyte of sparse disk and RAM per test: do not keep it around.
    shutil.rmtree(tmp_path, ignore_errors=True)


@pytest.fixture(scope="session")
def virt_crash_images():
    """qemu-virt (aarch64): the ROM, the test OS disk and its vmlinux."""
    return build_crash_images("qemu-virt")


@pytest.fixture
def virt_lab(virt_crash_images, tmp_path, request):
    """A qemu-virt machine with the board's 1 GiB: its memory map (boot window,
    cma=) is laid out for it (docs/crashdump.md)."""
    lab = Lab(
        virt_crash_images,
        tmp_path,
        request.node.name,
        board="qemu-virt",
        memory=load_board(TOP, "qemu-virt").qemu.memory,
    )
    yield lab
    shutil.rmtree(tmp_path, ignore_errors=True)


@pytest.fixture(scope="session")
def crash_arm64_command() -> list[str]:
    """crash(8) for arm64 dumps, built here from the pinned Debian source
    (warmboot.vmcore.crash_arm64; the first call builds it): a command prefix."""
    try:
        return crash_arm64.command()
    except crash_arm64.CrashArm64Error as exc:
        pytest.fail(str(exc))
