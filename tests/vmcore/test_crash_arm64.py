"""crash(8) for arm64 dumps, built on this host from Debian's crash source package
(warmboot.vmcore.crash_arm64): only from the pinned, verified source; a tampered
file or a failed build leaves nothing behind; the build is found again at once.
The real dump is read in tests/crashdump/test_virt_panic_capture.py."""

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
from warmboot.vmcore.crash_arm64 import CrashArm64Error
from wbtest import TOP

LOCK = load_lock(TOP / "coreboot-config" / "sources.lock.toml")
PIN = LOCK.get(crash_arm64.SOURCE)


@pytest.fixture(scope="module")
def pinned_files() -> dict[str, Path]:
    """The real, verified source files, from the user's cache."""
    return obtain_files(PIN, SourceCache())


def seeded_cache(root: Path, files: dict[str, Path]) -> SourceCache:
    """A fresh cache holding only the verified files (as a warm machine would)."""
    cache = SourceCache(root)
    cache.blobs.mkdir(parents=True)
    for f in PIN.files:
        shutil.copy(files[f.name], cache.blob_path(f.sha256))
    return cache


def made(cache: SourceCache) -> list[str]:
    """What the cache holds besides blobs and lock files: trees, builds, temporaries."""
    return sorted(
        str(p.relative_to(cache.root))
        for p in cache.root.rglob("*")
        if p.name != ".lock" and p.parent.name in ("trees", "crash-arm64")
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


def test_a_tampered_crash_source_file_is_refused_and_nothing_is_built(
    pinned_files, tmp_path, monkeypatch
):
    pin = next(f for f in PIN.files if f.name.endswith(".debian.tar.xz"))
    mirror = TamperingMirror(pin.name, pinned_files[pin.name].read_bytes())
    monkeypatch.setenv("WARMBOOT_MIRRORS", mirror.url)
    cache = SourceCache(tmp_path / "cache")
    try:
        with pytest.raises(CrashArm64Error) as err:
            crash_arm64.program(LOCK, cache)
    finally:
        mirror.close()
    message = str(err.value)
    assert "\n" not in message
    assert f"sha256 mismatch for {pin.name}" in message
    assert f"expected {pin.sha256}" in message
    assert made(cache) == []
    assert not any(cache.root.rglob(".partial-*"))


def test_a_failed_build_says_why_in_one_line_and_leaves_only_its_log(
    pinned_files, tmp_path, monkeypatch
):
    cache = seeded_cache(tmp_path / "cache", pinned_files)
    # The real tree, copied and built with a target crash's Makefile does not know.
    monkeypatch.setattr(crash_arm64, "TARGET", "VAX")
    with pytest.raises(CrashArm64Error) as err:
        crash_arm64.program(LOCK, cache)
    message = str(err.value)
    assert "\n" not in message
    assert "`make target=VAX" in message and "failed (exit" in message, message
    final = crash_arm64.build_dir(cache, PIN)
    assert not final.exists()
    left = [p.name for p in final.parent.iterdir() if p.name != ".lock"]
    assert left == [f"{final.name}.log"], left
    assert "VAX" in (final.parent / left[0]).read_text()


@pytest.mark.slow
def test_crash_for_arm64_is_built_from_the_pinned_source_and_found_again_at_once():
    crash = crash_arm64.program()
    assert crash_arm64.version(crash) == f"crash {PIN.version}"
    # An x86_64 program (it runs here natively) whose gdb reads aarch64 code.
    header = subprocess.run(
        ["readelf", "-h", str(crash)], capture_output=True, text=True, check=True
    ).stdout
    assert "Advanced Micro Devices X86-64" in header
    help_text = subprocess.run(
        [str(crash), "--help"], capture_output=True, text=True, timeout=60
    ).stdout
    assert "ARM64" in help_text or "arm64" in help_text.lower(), help_text[:500]
    started = time.monotonic()
    assert crash_arm64.program() == crash and time.monotonic() - started < 0.5
