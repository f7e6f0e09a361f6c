"""Debian's arm64 crash(8) under qemu-user (warmboot.vmcore.crash_arm64): its
sysroot is made only from the pinned, verified .debs, assembled atomically
under the cache, found again at once; a tampered .deb is refused and leaves
nothing behind. The real dump is read in tests/crashdump/test_virt_panic_capture.py."""

from __future__ import annotations

import http.server
import shutil
import subprocess
import threading
import time
from pathlib import Path

import pytest

from warmboot.sources import load_lock
from warmboot.sources.cache import SourceCache
from warmboot.sources.resolve import obtain_files
from warmboot.vmcore import crash_arm64
from warmboot.vmcore.crash_arm64 import PACKAGES, CrashArm64Error
from wbtest import TOP

LOCK = load_lock(TOP / "coreboot-config" / "sources.lock.toml")


@pytest.fixture(scope="module")
def pinned_debs() -> dict[str, Path]:
    """The real, verified .debs of the sysroot, from the user's cache."""
    out: dict[str, Path] = {}
    for name in PACKAGES:
        out.update(obtain_files(LOCK.get(name), SourceCache()))
    return out


def seeded_cache(root: Path, debs: dict[str, Path]) -> SourceCache:
    """A fresh cache holding only the verified files (as a warm machine would)."""
    cache = SourceCache(root)
    cache.blobs.mkdir(parents=True)
    for name in PACKAGES:
        for f in LOCK.get(name).files:
            shutil.copy(debs[f.name], cache.blob_path(f.sha256))
    return cache


def made(cache: SourceCache) -> list[str]:
    """What the cache holds besides lock files: blobs, trees, sysroots, temporaries."""
    return sorted(
        str(p.relative_to(cache.root))
        for p in cache.root.rglob("*")
        if p.name != ".lock" and p.parent.name in ("sha256", "trees", "crash-arm64")
    )


class TamperingMirror:
    """An HTTP server on 127.0.0.1 that serves one file with a byte flipped."""

    def __init__(self, name: str, data: bytes):
        tampered = bytearray(data)
        tampered[len(tampered) // 2] ^= 0xFF
        body = bytes(tampered)

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                if not self.path.endswith("/" + name):
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/pool"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_a_tampered_crash_deb_is_refused_and_nothing_is_cached(pinned_debs, tmp_path, monkeypatch):
    (pin,) = LOCK.get("crash-arm64").files
    mirror = TamperingMirror(pin.name, pinned_debs[pin.name].read_bytes())
    monkeypatch.setenv("WARMBOOT_MIRRORS", mirror.url)
    cache = SourceCache(tmp_path / "cache")
    try:
        with pytest.raises(CrashArm64Error) as err:
            crash_arm64.sysroot(LOCK, cache)
    finally:
        mirror.close()
    message = str(err.value)
    assert "\n" not in message
    assert f"sha256 mismatch for {pin.name}" in message
    assert f"expected {pin.sha256}" in message
    assert made(cache) == []
    assert not any(cache.root.rglob("*.deb")) and not any(cache.root.rglob(".partial-*"))


def test_the_sysroot_is_made_from_the_pins_atomically_and_found_again_at_once(
    pinned_debs, tmp_path, monkeypatch
):
    cache = seeded_cache(tmp_path / "cache", pinned_debs)
    final = crash_arm64.sysroot_dir(cache, [LOCK.get(name) for name in crash_arm64.PACKAGES])

    # Interrupted halfway (the fourth package): nothing half-made is left.
    real = crash_arm64.materialize
    calls = []

    def interrupted(pinned, *args, **kwargs):
        calls.append(pinned.name)
        if len(calls) == 4:
            raise KeyboardInterrupt
        return real(pinned, *args, **kwargs)

    monkeypatch.setattr(crash_arm64, "materialize", interrupted)
    with pytest.raises(KeyboardInterrupt):
        crash_arm64.sysroot(LOCK, cache)
    assert not final.exists()
    assert [p.name for p in final.parent.iterdir() if p.name != ".lock"] == []
    monkeypatch.setattr(crash_arm64, "materialize", real)

    root = crash_arm64.sysroot(LOCK, cache)
    assert root == final
    assert (root / "usr/bin/crash").is_file()
    loader = root / "lib/ld-linux-aarch64.so.1"
    assert loader.is_symlink() and loader.resolve().is_relative_to(root)
    needed = subprocess.run(
        ["readelf", "-d", str(root / "usr/bin/crash")], capture_output=True, text=True, check=True
    ).stdout
    for lib in (ln.split("[")[1].rstrip("]") for ln in needed.splitlines() if "NEEDED" in ln):
        where = (root / d / "aarch64-linux-gnu" / lib for d in ("lib", "usr/lib"))
        assert any(p.exists() for p in where), f"{lib} not in the sysroot"
    assert [p.name for p in final.parent.iterdir() if p.name != ".lock"] == [final.name]

    started = time.monotonic()
    again = crash_arm64.sysroot(LOCK, cache)
    assert again == root and time.monotonic() - started < 0.5


def test_without_qemu_user_static_the_error_names_the_package(tmp_path):
    with pytest.raises(CrashArm64Error, match=r"qemu-user-static") as err:
        crash_arm64.command(LOCK, SourceCache(tmp_path), qemu="qemu-aarch64-static-absent")
    assert "\n" not in str(err.value)
    assert not any(tmp_path.iterdir())


@pytest.mark.qemu
def test_debian_arm64_crash_runs_under_qemu_user():
    out = subprocess.run(
        [*crash_arm64.command(), "--version"], capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines()[1] == "crash 8.0.2", out.stdout
