"""The lock is rewritten in place: only the updated pin's version and files
change, comments and other pins stay byte for byte, and a rewrite that cannot
be done exactly leaves the lock as it was, with no stray file beside it."""

import difflib
import os
import shutil
from dataclasses import replace

import pytest

from warmboot.sources import load_lock
from warmboot.sources.errors import LockRewriteError
from warmboot.sources.lock import PinnedFile
from warmboot.sources.lockedit import rewrite_lock
from warmboot.sources.update import _next_version
from wbtest import TOP

NEW_SHA = "ab" * 32


@pytest.fixture
def lock_copy(tmp_path):
    path = tmp_path / "sources.lock.toml"
    shutil.copy2(TOP / "coreboot-config/sources.lock.toml", path)
    return path


def test_only_the_updated_pin_changes(lock_copy):
    before = lock_copy.read_text()
    old = load_lock(lock_copy)
    linux = old.get("linux")
    new = replace(
        linux,
        version="6.1.193",
        package_version="6.1.193-1",
        files=(PinnedFile("linux-source-6.1_6.1.193-1_all.deb", NEW_SHA),),
    )
    rewrite_lock(lock_copy, {"linux": new})
    after = load_lock(lock_copy)
    assert after.get("linux") == new
    assert {n: p for n, p in after.sources.items() if n != "linux"} == {
        n: p for n, p in old.sources.items() if n != "linux"
    }
    changed = [
        ln
        for ln in difflib.unified_diff(
            before.splitlines(), lock_copy.read_text().splitlines(), lineterm="", n=0
        )
        if ln[:1] in "+-" and not ln.startswith(("+++", "---"))
    ]
    assert sorted(changed) == sorted(
        [
            f'-version = "{linux.version}"',
            '+version = "6.1.193"',
            f'-package_version = "{linux.package_version}"',
            '+package_version = "6.1.193-1"',
            f'-name = "{linux.files[0].name}"',
            '+name = "linux-source-6.1_6.1.193-1_all.deb"',
            f'-sha256 = "{linux.files[0].sha256}"',
            f'+sha256 = "{NEW_SHA}"',
        ]
    )
    assert sorted(p.name for p in lock_copy.parent.iterdir()) == ["sources.lock.toml"]


def test_a_lock_it_cannot_rewrite_exactly_is_left_alone(tmp_path):
    path = tmp_path / "sources.lock.toml"
    text = (
        '[sources.x]\nversion = "1"\nkind = "debian-binary"\npackage = "x"\n'
        'package_version = "1-1"\n'
        f'files = [{{ name = "x_1-1_all.deb", sha256 = "{"0" * 64}" }}]\n'
    )
    path.write_text(text)
    new = replace(
        load_lock(path).get("x"),
        package_version="1-2",
        files=(PinnedFile("x_1-2_all.deb", NEW_SHA),),
    )
    with pytest.raises(LockRewriteError, match="edit it by hand"):
        rewrite_lock(path, {"x": new})
    assert path.read_text() == text
    assert [p.name for p in tmp_path.iterdir()] == ["sources.lock.toml"]


def test_a_failed_write_leaves_the_old_lock_and_no_partial_file(lock_copy, monkeypatch):
    before = lock_copy.read_bytes()
    linux = load_lock(lock_copy).get("linux")
    new = replace(
        linux,
        package_version="6.1.192-3",
        files=(PinnedFile("linux-source-6.1_6.1.192-3_all.deb", NEW_SHA),),
    )

    def no_space(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", no_space)
    with pytest.raises(OSError):
        rewrite_lock(lock_copy, {"linux": new})
    assert lock_copy.read_bytes() == before
    assert [p.name for p in lock_copy.parent.iterdir()] == ["sources.lock.toml"]


@pytest.mark.parametrize(
    "version, old, new, expected",
    [
        ("6.1.192", "6.1.192-2", "6.1.192-3", "6.1.192"),
        ("6.1.192", "6.1.192-2", "6.1.193-1", "6.1.193"),
        ("4.15", "4.15~dfsg-3", "4.16~dfsg-1", "4.16"),
        ("1.35.0", "1:1.35.0-4+deb12u1+b1", "1:1.36.1-1", "1.36.1"),
        ("2.8.0", "2.8.0+dfsg-1", "2.8.0+dfsg-2", "2.8.0"),
    ],
)
def test_the_locks_version_follows_the_package_in_its_own_style(version, old, new, expected):
    pinned = replace(
        load_lock(TOP / "coreboot-config/sources.lock.toml").get("linux"),
        version=version,
        package_version=old,
    )
    assert _next_version(pinned, new) == expected
