"""When the archive moves on, `warmboot sources check` says which pins can no
longer be fetched, `warmboot sources update` moves them to what the archive
carries (verified by apt against the signed indices) and rewrites the lock in
one step, the build's error names that command, and a cached pin keeps
building offline.

Everything runs real apt-get against a signed repository on 127.0.0.1 that
the test makes; nothing reaches the network."""

from __future__ import annotations

import hashlib
import http.server
import os
import shutil
import subprocess
import sys
import threading
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import pytest

from aptrepo import LocalAptRepo, tar_xz
from warmboot.sources import load_lock, materialize
from warmboot.sources.apt import SOURCES_ENV, host_architecture
from warmboot.sources.cache import SourceCache
from warmboot.sources.errors import NotInArchiveError
from warmboot.sources.resolve import tree_dir
from wbtest import TOP

MEMBER = "usr/share/wbdemo/wbdemo.tar.xz"

LOCK_HEAD = """\
# A test lock. Its comments and layout must survive a rewrite.

[sources.demo-src]
version = "1.0"
description = "a source package, unpacked with dpkg-source"
kind = "debian-source"
package = "wbdemo"
package_version = "1.0-1"   # the first revision
"""

LOCK_BIN = """
# The binary package carries its tree as one tarball.
[sources.demo-bin]
version = "1.0"
kind = "debian-binary"
package = "wbdemo-data"
package_version = "1.0-1"
architecture = "all"
member = "{member}"
tree = "wbdemo"
"""


def file_blocks(name: str, files) -> str:
    return "".join(
        f'\n[[sources.{name}.files]]\nname = "{f.name}"\nsha256 = "{f.sha256}"\n' for f in files
    )


@dataclass
class Archive:
    """The repository, a lock pinning its first versions, and the environment."""

    repo: LocalAptRepo
    lock: Path
    cache: Path
    env: dict[str, str]
    v1_bin: list
    v1_src: list

    def sources(self, *args: str, cache: Path | None = None) -> subprocess.CompletedProcess:
        env = dict(self.env)
        if cache:
            env["WARMBOOT_CACHE"] = str(cache)
        return subprocess.run(
            [sys.executable, "-m", "warmboot.cli", "sources", "--lock", str(self.lock), *args],
            capture_output=True,
            text=True,
            env=env,
            timeout=300,
        )

    def move_on(self) -> tuple[list, list]:
        """Publish wbdemo-data 1.1-1 and wbdemo 1.0-2, and drop the first versions."""
        v2_bin = [
            self.repo.add_binary(
                "wbdemo-data", "1.1-1", {MEMBER: tar_xz({"wbdemo/VERSION": b"1.1\n"})}
            )
        ]
        v2_src = self.repo.add_source("wbdemo", "1.0", "2", {"README": b"hello\n"})
        kept_orig = {f.name for f in v2_src}
        self.repo.remove(*(f.name for f in self.v1_bin + self.v1_src if f.name not in kept_orig))
        self.repo.publish()
        return v2_bin, v2_src


@pytest.fixture
def archive(tmp_path):
    repo = LocalAptRepo(tmp_path / "repo", host_architecture())
    v1_bin = [
        repo.add_binary("wbdemo-data", "1.0-1", {MEMBER: tar_xz({"wbdemo/VERSION": b"1.0\n"})})
    ]
    v1_src = repo.add_source("wbdemo", "1.0", "1", {"README": b"hello\n"})
    repo.publish()
    listing = tmp_path / "test-archive.list"
    listing.write_text(repo.source_line())
    lock = tmp_path / "config" / "sources.lock.toml"
    lock.parent.mkdir()
    lock.write_text(
        LOCK_HEAD
        + file_blocks("demo-src", v1_src)
        + LOCK_BIN.format(member=MEMBER)
        + file_blocks("demo-bin", v1_bin)
    )
    cache = tmp_path / "cache"
    # apt retries a failed fetch three times with back-off (7 s per update); the
    # tests that close the archive's port would wait for that on every call.
    apt_conf = tmp_path / "apt.conf"
    apt_conf.write_text('Acquire::Retries "0";\n')
    env = {k: v for k, v in os.environ.items() if k not in ("WARMBOOT_MIRRORS",)}
    env.update(
        {
            "WARMBOOT_CACHE": str(cache),
            SOURCES_ENV: str(listing),
            "PYTHONPATH": str(TOP / "python"),
            "APT_CONFIG": str(apt_conf),
        }
    )
    yield Archive(repo, lock, cache, env, v1_bin, v1_src)
    repo.close()


def one_error_line(result: subprocess.CompletedProcess) -> str:
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("warmboot: error: "), result.stderr
    return lines[0]


def test_check_finds_the_dropped_pin_update_moves_it_and_a_fresh_clone_builds(archive, tmp_path):
    ok = archive.sources("check")
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert ok.stdout.count("ok: the archive carries it") == 2
    fetched = archive.sources("fetch")  # the first versions, now in the cache
    assert fetched.returncode == 0, fetched.stderr

    v2_bin, v2_src = archive.move_on()
    before = archive.lock.read_bytes()
    check = archive.sources("check")
    error = one_error_line(check)
    assert "2 of 2 pins can no longer be fetched" in error
    assert "run `warmboot sources update demo-bin demo-src`" in error
    lines = {ln.split()[0]: ln for ln in check.stdout.splitlines()}
    assert (
        "CANNOT BE FETCHED: the archive no longer carries wbdemo-data 1.0-1 (it has 1.1-1)"
        in lines["demo-bin"]
    )
    assert "the archive no longer carries wbdemo 1.0-1 (it has 1.0-2)" in lines["demo-src"]
    assert "still in this machine's cache" in lines["demo-bin"]
    assert archive.lock.read_bytes() == before  # check never writes

    updated = archive.sources("update")
    assert updated.returncode == 0, updated.stdout + updated.stderr
    out = updated.stdout
    assert "demo-bin: wbdemo-data 1.0-1 -> 1.1-1" in out
    assert "version 1.0 -> 1.1" in out
    assert f"  - {archive.v1_bin[0].sha256}  wbdemo-data_1.0-1_all.deb" in out
    assert f"  + {v2_bin[0].sha256}  wbdemo-data_1.1-1_all.deb" in out
    assert "demo-src: wbdemo 1.0-1 -> 1.0-2" in out
    assert "(1 file unchanged)" in out  # the orig tarball stays
    assert f"rewrote {archive.lock}" in out

    lock = load_lock(archive.lock)
    assert lock.get("demo-bin").package_version == "1.1-1"
    assert lock.get("demo-bin").version == "1.1"
    assert {(f.name, f.sha256) for f in lock.get("demo-bin").files} == {
        (f.name, f.sha256) for f in v2_bin
    }
    assert lock.get("demo-src").package_version == "1.0-2"
    assert lock.get("demo-src").version == "1.0"
    assert {(f.name, f.sha256) for f in lock.get("demo-src").files} == {
        (f.name, f.sha256) for f in v2_src
    }
    text = archive.lock.read_text()
    for kept in (
        "# A test lock. Its comments and layout must survive a rewrite.",
        "# The binary package carries its tree as one tarball.",
        'package_version = "1.0-2"   # the first revision',
        'description = "a source package, unpacked with dpkg-source"',
    ):
        assert kept in text

    assert archive.sources("check").returncode == 0
    # A fresh clone: an empty cache, the rewritten lock, the archive as it is now.
    fresh = tmp_path / "fresh-cache"
    built = archive.sources("fetch", cache=fresh)
    assert built.returncode == 0, built.stdout + built.stderr
    tree = materialize(lock.get("demo-bin"), SourceCache(fresh), environ={})
    assert (tree.path / "VERSION").read_text() == "1.1\n"
    src = materialize(lock.get("demo-src"), SourceCache(fresh), environ={})
    assert "revision 2" in (src.path / "debian" / "changelog").read_text()


def test_the_build_error_for_a_dropped_pin_names_the_update_command(archive, monkeypatch):
    archive.move_on()
    failed = archive.sources("fetch", "demo-bin")
    error = one_error_line(failed)
    assert "demo-bin: the archive no longer carries wbdemo-data 1.0-1" in error
    assert "run `warmboot sources update demo-bin`" in error
    # The same text reaches the build, which calls materialize() and prints the error.
    monkeypatch.setenv(SOURCES_ENV, archive.env[SOURCES_ENV])
    with pytest.raises(NotInArchiveError, match=r"run `warmboot sources update demo-src`"):
        materialize(load_lock(archive.lock).get("demo-src"), SourceCache(archive.cache), environ={})


def test_a_cached_pin_keeps_building_with_no_archive_reachable(archive, monkeypatch):
    assert archive.sources("fetch").returncode == 0
    lock = load_lock(archive.lock)
    cache = SourceCache(archive.cache)
    archive.repo.close()  # nothing answers on the archive's port any more
    monkeypatch.setenv(SOURCES_ENV, archive.env[SOURCES_ENV])
    for name in ("demo-bin", "demo-src"):
        assert materialize(lock.get(name), cache, environ={}).provider == "cache"
        # Without the unpacked tree, the verified files in the cache are enough.
        shutil.rmtree(tree_dir(lock.get(name), cache))
        again = materialize(lock.get(name), cache, environ={})
        assert again.provider == "verified"
    assert (materialize(lock.get("demo-bin"), cache, environ={}).path / "VERSION").exists()
    assert archive.sources("fetch").returncode == 0

    before = archive.lock.read_bytes()
    check = one_error_line(archive.sources("check"))
    assert "apt-get update could not read the archive's current index" in check
    update = one_error_line(archive.sources("update"))
    assert "could not read the archive's current index" in update
    assert archive.lock.read_bytes() == before


def lock_dir_state(archive: Archive) -> tuple[bytes, list[str]]:
    return archive.lock.read_bytes(), sorted(p.name for p in archive.lock.parent.iterdir())


def test_a_file_that_differs_from_the_signed_index_leaves_the_lock_untouched(archive):
    v2_bin, _v2_src = archive.move_on()
    # The pool's .deb no longer matches the hash the signed Packages file lists
    # (same size: only apt's hash check can tell).
    data = bytearray(v2_bin[0].path.read_bytes())
    data[len(data) // 2] ^= 0x01
    v2_bin[0].path.write_bytes(bytes(data))
    before = lock_dir_state(archive)
    failed = archive.sources("update")  # demo-src alone would succeed: all or nothing
    error = one_error_line(failed)
    assert "demo-bin: the archive did not deliver wbdemo-data 1.1-1" in error
    assert "Hash Sum mismatch" in error
    assert error.endswith("the lock was left unchanged")
    assert lock_dir_state(archive) == before
    bad = hashlib.sha256(bytes(data)).hexdigest()
    assert not SourceCache(archive.cache).blob_path(bad).exists()


def test_an_index_signed_by_another_key_is_refused(archive, tmp_path):
    archive.move_on()
    impostor = LocalAptRepo(tmp_path / "impostor", host_architecture())
    try:
        # The real repository's Release, signed with a key apt was not told to trust.
        inrelease = archive.repo.root / "dists" / "test" / "InRelease"
        impostor._gpg(
            "--digest-algo",
            "SHA256",
            "--clearsign",
            "-o",
            str(inrelease),
            str(inrelease.with_name("Release")),
        )
    finally:
        impostor.close()
    before = lock_dir_state(archive)
    error = one_error_line(archive.sources("update"))
    assert "could not read the archive's current index" in error
    assert "NO_PUBKEY" in error or "not signed" in error or "signature" in error.lower()
    assert lock_dir_state(archive) == before
    assert one_error_line(archive.sources("check"))


def test_update_with_nothing_new_leaves_the_lock_as_it_is(archive):
    before = lock_dir_state(archive)
    result = archive.sources("update", "demo-bin")
    assert result.returncode == 0, result.stderr
    assert "demo-bin: wbdemo-data 1.0-1 is the archive's version; unchanged" in result.stdout
    assert "nothing to do" in result.stdout
    assert lock_dir_state(archive) == before


def test_updating_one_pin_leaves_the_others_byte_for_byte(archive):
    archive.move_on()
    before = archive.lock.read_text()
    result = archive.sources("update", "demo-bin")
    assert result.returncode == 0, result.stdout + result.stderr
    after = archive.lock.read_text()
    src_part = before.split("# The binary package")[0]
    assert after.startswith(src_part)
    assert "demo-src" not in result.stdout


def test_a_pin_the_index_lists_but_the_archive_no_longer_serves_is_reported(archive):
    # The pool lost the file; the signed index still lists it, as a mirror caught
    # half-way through an update would (or one that never carried source files).
    archive.repo.remove(archive.v1_bin[0].name)
    check = archive.sources("check")
    error = one_error_line(check)
    assert "1 of 2 pins can no longer be fetched" in error
    # The archive has no newer version to update to: only a mirror helps.
    assert "give demo-bin a mirror that serves the pinned files" in error
    assert "sources update" not in error
    lines = {ln.split()[0]: ln for ln in check.stdout.splitlines()}
    assert (
        f"CANNOT BE FETCHED: the archive lists {archive.v1_bin[0].name} but does not serve it"
        " (HTTP 404)" in lines["demo-bin"]
    )
    assert "ok: the archive carries it" in lines["demo-src"]


def test_a_pin_gone_from_the_archive_but_on_a_mirror_is_still_fetchable(archive, tmp_path):
    mirror_dir = tmp_path / "mirror"
    mirror_dir.mkdir()
    for f in archive.v1_bin:
        shutil.copy2(f.path, mirror_dir / f.name)
    archive.move_on()
    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), partial(QuietHandler, directory=str(mirror_dir))
    )
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        archive.env["WARMBOOT_MIRRORS"] = f"http://127.0.0.1:{server.server_address[1]}"
        result = archive.sources("check", "demo-bin")
        assert result.returncode == 0, result.stdout + result.stderr
        assert (
            "ok: on its mirrors (the archive no longer carries wbdemo-data 1.0-1" in result.stdout
        )
        assert archive.sources("check", "demo-src").returncode == 1
    finally:
        server.shutdown()
        server.server_close()


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


NEW_SRC = """
[sources.new-src]
version = "2.0"
kind = "debian-source"
package = "wbnew"
package_version = "2.0-1"
"""


def test_a_pin_naming_a_suite_comes_from_that_suite_of_the_machines_archive(archive):
    new = archive.repo.add_source("wbnew", "2.0", "1", {"README": b"only in unstable\n"})
    archive.repo.publish("unstable")  # the release suite ("test") does not list wbnew
    head = archive.lock.read_text()

    # Without the suite, the release's index does not carry it.
    archive.lock.write_text(head + NEW_SRC + file_blocks("new-src", new))
    missing = archive.sources("check", "new-src")
    assert "the archive no longer carries wbnew 2.0-1 (nor any version of it)" in missing.stdout

    archive.lock.write_text(head + NEW_SRC + 'suite = "unstable"\n' + file_blocks("new-src", new))
    check = archive.sources("check", "new-src", "demo-src")
    assert check.returncode == 0, check.stdout + check.stderr
    assert check.stdout.count("ok: the archive carries it") == 2, check.stdout
    fetched = archive.sources("fetch", "new-src")
    assert fetched.returncode == 0, fetched.stdout + fetched.stderr
    tree = materialize(
        load_lock(archive.lock).get("new-src"), SourceCache(archive.cache), environ={}
    )
    assert (tree.path / "README").read_text() == "only in unstable\n"
    # Each suite keeps its own lists: the release's stay without wbnew.
    release_sources = archive.cache / "apt" / "sources.list"
    assert " test main" in release_sources.read_text()
    assert " unstable main" in (archive.cache / "apt-unstable" / "sources.list").read_text()
    assert " unstable " not in release_sources.read_text()
