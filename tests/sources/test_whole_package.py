"""A debian-binary source without `member` is the whole package, unpacked as
dpkg would install it (symlinks kept, no DEBIAN control directory)."""

from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path

from warmboot.sources import materialize
from warmboot.sources.cache import SourceCache
from warmboot.sources.lock import PinnedFile, parse_lock
from warmboot.sources.resolve import MARKER


def build_deb(tmp_path: Path) -> Path:
    stage = tmp_path / "stage"
    (stage / "DEBIAN").mkdir(parents=True)
    (stage / "DEBIAN" / "control").write_text(
        "Package: wbwhole\nVersion: 1.0-1\nArchitecture: arm64\n"
        "Maintainer: warmboot tests <tests@test.invalid>\nDescription: a whole package\n"
    )
    (stage / "usr" / "bin").mkdir(parents=True)
    (stage / "usr" / "bin" / "tool").write_text("#!/bin/sh\n")
    (stage / "lib" / "aarch64-linux-gnu").mkdir(parents=True)
    (stage / "lib" / "aarch64-linux-gnu" / "libwb.so.1.0").write_bytes(b"\x7fELF")
    (stage / "lib" / "aarch64-linux-gnu" / "libwb.so.1").symlink_to("libwb.so.1.0")
    deb = tmp_path / "wbwhole_1.0-1_arm64.deb"
    subprocess.run(
        ["dpkg-deb", "--root-owner-group", "--build", str(stage), str(deb)],
        check=True,
        capture_output=True,
    )
    return deb


def test_a_binary_package_without_member_unpacks_whole(tmp_path):
    deb = build_deb(tmp_path)
    digest = hashlib.sha256(deb.read_bytes()).hexdigest()
    lock = parse_lock(
        {
            "sources": {
                "whole": {
                    "version": "1.0",
                    "kind": "debian-binary",
                    "package": "wbwhole",
                    "package_version": "1.0-1",
                    "architecture": "arm64",
                    "files": [{"name": deb.name, "sha256": digest}],
                }
            }
        },
        tmp_path / "sources.lock.toml",
    )
    cache = SourceCache(tmp_path / "cache")
    cache.admit(deb, PinnedFile(deb.name, digest), "the test")

    tree = materialize(lock.get("whole"), cache)

    assert tree.provider == "verified"
    assert (tree.path / "usr" / "bin" / "tool").read_text() == "#!/bin/sh\n"
    lib = tree.path / "lib" / "aarch64-linux-gnu" / "libwb.so.1"
    assert lib.is_symlink() and lib.read_bytes() == b"\x7fELF"
    assert not (tree.path / "DEBIAN").exists()
    assert not (tree.path / ".unpack").exists()
    assert (tree.path / MARKER).exists()
    assert materialize(lock.get("whole"), cache).provider == "cache"
