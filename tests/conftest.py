"""Shared fixtures: the checkout and the built qemu-q35 image; and the rule
that only tests marked `qemu` may run QEMU."""

import os
import shutil
import tempfile
from pathlib import Path

import pytest

from wbtest import TOP, BuiltBoard, build_board

QEMU_COMMANDS = ("qemu-system-x86_64", "qemu-system-aarch64")
NOT_MARKED = (
    '#!/bin/sh\necho "$(basename "$0"): run by a test not marked qemu; mark it '
    '@pytest.mark.qemu (tests/conftest.py)" >&2\nexit 97\n'
)


@pytest.fixture(scope="session")
def top() -> Path:
    return TOP


@pytest.fixture(scope="session")
def q35() -> BuiltBoard:
    """build/qemu-q35, built (or found up to date) by `scons board=qemu-q35`."""
    return build_board("qemu-q35")


@pytest.fixture(scope="session")
def q35_testos() -> BuiltBoard:
    """build/qemu-q35 with its test OS (build/qemu-q35/testos/: kernel,
    initramfs, disk), built or found up to date by `scons board=qemu-q35 .`."""
    return build_board("qemu-q35", ".")


@pytest.fixture(scope="session")
def virt() -> BuiltBoard:
    """build/qemu-virt (aarch64), built (or found up to date) by `scons board=qemu-virt`."""
    return build_board("qemu-virt")


_stubs: list[Path] = []


def _qemu_stubs() -> Path:
    if not _stubs:
        stubs = Path(tempfile.mkdtemp(prefix="warmboot-no-qemu-"))
        for name in QEMU_COMMANDS:
            (stubs / name).write_text(NOT_MARKED)
            (stubs / name).chmod(0o755)
        _stubs.append(stubs)
    return _stubs[0]


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item, nextitem):
    """A test not marked `qemu` (and the fixtures set up for it) finds QEMU
    commands on PATH that fail naming the marker, so `pytest -m "not qemu"`
    stays a run without guests."""
    if item.get_closest_marker("qemu") is not None:
        yield
        return
    path = os.environ.get("PATH", "")
    os.environ["PATH"] = f"{_qemu_stubs()}{os.pathsep}{path}"
    try:
        yield
    finally:
        os.environ["PATH"] = path


def pytest_unconfigure(config):
    for stubs in _stubs:
        shutil.rmtree(stubs, ignore_errors=True)
