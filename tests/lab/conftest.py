"""Fixtures for the lab tests: the images, the signed releases on a local HTTP
server (session-wide), and a fresh QEMU q35 board per test. labkit.py has the
pieces and explains them."""

from __future__ import annotations

import pytest

from labkit import QemuBoard, SignedReleases, free_port, make_images, serve, write_releases


@pytest.fixture(scope="session")
def images(q35, tmp_path_factory):
    return make_images(q35.rom, q35.cbfstool, tmp_path_factory.mktemp("images"))


@pytest.fixture(scope="session")
def releases(q35, images, tmp_path_factory):
    served = tmp_path_factory.mktemp("served")
    root_file = write_releases(
        served, tmp_path_factory.mktemp("signing"), images, q35.manifest.read_bytes()
    )
    server, httpd = serve(served)
    yield SignedReleases(root_file, server)
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def board(tmp_path, releases, images):
    """The place "q35", its chip holding the old image (release 1.0.0), powered off."""
    home = tmp_path / "board"
    home.mkdir()
    qemu_board = QemuBoard(home, releases, free_port())
    qemu_board.chip.write_bytes(images.old)
    qemu_board.install_power_scripts()
    yield qemu_board
    qemu_board.power_off()
