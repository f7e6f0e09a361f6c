"""Shared fixtures: the checkout and the built qemu-q35 image."""
from pathlib import Path

import pytest

from wbtest import TOP, BuiltBoard, build_board


@pytest.fixture(scope="session")
def top() -> Path:
    return TOP


@pytest.fixture(scope="session")
def q35() -> BuiltBoard:
    """build/qemu-q35, built (or found up to date) by `scons board=qemu-q35`."""
    return build_board("qemu-q35")


@pytest.fixture(scope="session")
def virt() -> BuiltBoard:
    """build/qemu-virt (aarch64), built (or found up to date) by `scons board=qemu-virt`."""
    return build_board("qemu-virt")
