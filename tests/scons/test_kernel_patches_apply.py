"""The kernels' patch series apply, in order, to the pinned Linux tree: the
test OS kernel's (linuxboot/patches/linux-6.1/, board.toml [testos] patches)
and LinuxBoot's own (linuxboot/patches/linuxboot-6.1/, [linux] patches). The
build would stop naming the patch that no longer does."""

from __future__ import annotations

from pathlib import Path

import pytest

from warmboot.boards import load_board
from warmboot.sources import load_lock, materialize
from warmboot.sources.cache import SourceCache
from warmboot.steps.patches import patched_copy
from warmboot.steps.run import StepError
from wbtest import TOP


@pytest.fixture(scope="module")
def linux_tree() -> Path:
    lock = load_lock(TOP / "coreboot-config" / "sources.lock.toml")
    return materialize(lock.get("linux"), SourceCache()).path


def apply_series(linux_tree: Path, tmp_path: Path, patches) -> Path:
    return patched_copy(
        "linux",
        "the pinned linux tree",
        linux_tree,
        tmp_path / "src",
        list(patches),
        tmp_path / "patch.log",
    )


def test_the_series_applies_to_the_pinned_tree_and_leaves_it_untouched(linux_tree, tmp_path):
    patches = load_board(TOP, "qemu-q35").testos.kernel.patches
    assert [p.parent.name for p in patches] == ["linux-6.1"] * len(patches) and patches
    setup = linux_tree / "arch" / "x86" / "kernel" / "setup.c"
    before = setup.read_bytes()
    tree = apply_series(linux_tree, tmp_path, patches)
    assert (tree / "drivers" / "firmware" / "warmboot" / "core.c").is_file()
    assert b"warmboot_reserve_dump();" in (tree / "arch/x86/kernel/setup.c").read_bytes()
    # patch(1) wrote the changed files anew: the verified tree is as it was.
    assert setup.read_bytes() == before
    assert not (linux_tree / "drivers" / "firmware" / "warmboot").exists()


def test_linuxboots_series_applies_on_every_x86_board(linux_tree, tmp_path):
    series = {name: load_board(TOP, name).linux.patches for name in ("qemu-q35", "lenovo-x230")}
    patches = series["qemu-q35"]
    assert patches and series["lenovo-x230"] == patches
    assert [p.parent.name for p in patches] == ["linuxboot-6.1"] * len(patches)
    tree = apply_series(linux_tree, tmp_path, patches)
    # kexec_file_load hashes the loaded bytes; purgatory checks the zero tail.
    purgatory = (tree / "arch/x86/purgatory/purgatory.c").read_bytes()
    assert b"kexec_sha_region_tail_is_zero" in purgatory
    assert b"nullsz" not in (tree / "kernel/kexec_file.c").read_bytes()


def test_a_patch_that_no_longer_applies_stops_the_build_naming_it(linux_tree, tmp_path):
    broken = tmp_path / "0001-broken.patch"
    patch = next(
        p
        for p in sorted((TOP / "linuxboot" / "patches" / "linux-6.1").glob("*.patch"))
        if "arch/x86/kernel/setup.c" in p.read_text()
    )
    # As if upstream had moved the code the patch changes: its context is gone.
    broken.write_text(
        patch.read_text().replace("arch/x86/kernel/setup.c", "arch/x86/kernel/setup_moved.c")
    )
    with pytest.raises(StepError, match=f"patch {broken} does not apply to the pinned linux"):
        patched_copy(
            "linux",
            "the pinned linux tree",
            linux_tree,
            tmp_path / "src",
            [broken],
            tmp_path / "patch.log",
        )
    # patch's own words are in the log the message names.
    assert "setup_moved.c" in (tmp_path / "patch.log").read_text()
