"""Fixtures for the hand-off tests."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def q35_coreboot_rom(q35) -> Path:
    """coreboot 4.15 for QEMU q35 as `scons board=qemu-q35` built it, before
    the payload is added: it stops after writing its tables."""
    return q35.build / "coreboot" / "coreboot-nopayload.rom"


@pytest.fixture
def warmboot_main():
    """warmboot's main(argv), called in-process."""
    from warmboot import cli

    return cli.main
