"""Nothing unverified is cached or built: a file whose sha256 differs from the
lock is refused with a message naming the file, the expected and the actual
hash, and it is not kept; a download cut short leaves no partial file."""

import hashlib
import http.server
import threading
from pathlib import Path

import pytest

from warmboot.sources import HashMismatchError, SourceUnavailableError, load_lock, materialize
from warmboot.sources.cache import SourceCache
from warmboot.sources.resolve import cached_tree, obtain_files
from wbtest import TOP

LOCK = load_lock(TOP / "coreboot-config/sources.lock.toml")


@pytest.fixture(scope="module")
def coreboot_tarball() -> tuple[Path, str]:
    """The real, verified coreboot 4.15 orig tarball from the user's cache."""
    pinned = LOCK.get("coreboot")
    files = obtain_files(pinned, SourceCache())
    name = next(f.name for f in pinned.files if f.name.endswith(".orig.tar.xz"))
    return files[name], name


class Mirror:
    """A real HTTP server on 127.0.0.1 serving chosen bytes per file name."""

    def __init__(self):
        self.files: dict[str, bytes] = {}
        self.truncate: set[str] = set()
        mirror = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                name = self.path.rsplit("/", 1)[-1]
                from urllib.parse import unquote

                name = unquote(name)
                if name not in mirror.files:
                    self.send_error(404)
                    return
                data = mirror.files[name]
                self.send_response(200)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if name in mirror.truncate:
                    self.wfile.write(data[: len(data) // 2])
                    self.wfile.flush()
                    self.connection.shutdown(2)
                    return
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/pool"

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def mirror():
    m = Mirror()
    yield m
    m.close()


def leftovers(cache: SourceCache) -> list[Path]:
    return sorted(p for p in cache.root.rglob("*") if p.is_file())


def test_corrupted_source_tarball_from_a_mirror_is_refused_and_not_kept(
    coreboot_tarball, mirror, tmp_path
):
    path, name = coreboot_tarball
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    mirror.files[name] = bytes(data)
    pinned = LOCK.get("coreboot")
    cache = SourceCache(tmp_path / "cache")
    environ = {"WARMBOOT_MIRRORS": mirror.url}
    with pytest.raises(HashMismatchError) as err:
        obtain_files(pinned, cache, environ=environ, use_apt=False)
    message = str(err.value)
    expected = next(f.sha256 for f in pinned.files if f.name == name)
    assert name in message
    assert f"expected {expected}" in message
    assert f"got {hashlib.sha256(data).hexdigest()}" in message
    assert mirror.url in message
    assert leftovers(cache) == []
    assert cached_tree(pinned, cache) is None


def test_corrupted_file_in_the_cache_is_refused_and_discarded(coreboot_tarball, tmp_path):
    path, name = coreboot_tarball
    pinned = LOCK.get("coreboot")
    cache = SourceCache(tmp_path / "cache")
    pinned_file = next(f for f in pinned.files if f.name == name)
    bad = cache.blob_path(pinned_file.sha256)
    bad.parent.mkdir(parents=True)
    data = bytearray(path.read_bytes())
    data[100] ^= 0xFF
    bad.write_bytes(bytes(data))
    with pytest.raises(HashMismatchError, match=f"sha256 mismatch for {name}"):
        materialize(pinned, cache, environ={})
    assert not bad.exists()
    assert cached_tree(pinned, cache) is None


def test_download_cut_short_leaves_no_partial_file(coreboot_tarball, mirror, tmp_path):
    path, name = coreboot_tarball
    mirror.files[name] = path.read_bytes()
    mirror.truncate.add(name)
    cache = SourceCache(tmp_path / "cache")
    pinned = LOCK.get("coreboot")
    with pytest.raises(SourceUnavailableError, match="no provider delivered"):
        obtain_files(pinned, cache, environ={"WARMBOOT_MIRRORS": mirror.url}, use_apt=False)
    assert leftovers(cache) == []


def test_good_mirror_file_is_verified_and_cached_by_sha256(coreboot_tarball, mirror, tmp_path):
    _path, _name = coreboot_tarball
    pinned = LOCK.get("coreboot")
    for f in pinned.files:  # serve every file of the source package
        mirror.files[f.name] = SourceCache().blob_path(f.sha256).read_bytes()
    cache = SourceCache(tmp_path / "cache")
    files = obtain_files(pinned, cache, environ={"WARMBOOT_MIRRORS": mirror.url}, use_apt=False)
    for f in pinned.files:
        assert files[f.name] == cache.blob_path(f.sha256)
        assert hashlib.sha256(files[f.name].read_bytes()).hexdigest() == f.sha256


def test_local_override_is_used_as_is(tmp_path):
    tree = tmp_path / "my-coreboot"
    tree.mkdir()
    got = materialize(
        LOCK.get("coreboot"), SourceCache(tmp_path / "c"), environ={"COREBOOT_SRC": str(tree)}
    )
    assert got.path == tree and got.provider.startswith("override:COREBOOT_SRC=")


def test_override_naming_a_missing_tree_is_an_error(tmp_path):
    from warmboot.sources import SourceError

    with pytest.raises(SourceError, match=r"LINUX_SRC=.*no such file or directory"):
        materialize(
            LOCK.get("linux"),
            SourceCache(tmp_path / "c"),
            environ={"LINUX_SRC": str(tmp_path / "nope")},
        )
