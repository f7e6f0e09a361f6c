"""Fixtures for the crash-dump end-to-end tests (harness in crashlab.py)."""
import shutil

import pytest

from crashlab import Lab, build_crash_images


@pytest.fixture(scope="session")
def crash_images():
    """The ROM, the test OS disk and its vmlinux, built by scons."""
    try:
        return build_crash_images()
    except AssertionError as exc:
        pytest.fail(str(exc))


@pytest.fixture
def lab(crash_images, tmp_path, request):
    lab = Lab(crash_images, tmp_path, request.node.name)
    yield lab
    # A gigabyte of sparse disk and RAM per test: do not keep it around.
    shutil.rmtree(tmp_path, ignore_errors=True)
