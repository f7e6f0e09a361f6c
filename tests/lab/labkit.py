"""The lab the tests/lab suite flashes: images, signed releases, an HTTP server,
a QEMU q35 board with a dummy-flashrom chip, and warmboot-lab run as a program.
The fixtures that build them are in conftest.py.

- Images: the qemu-q35 build's coreboot.rom is the board's old image (release
  1.0.0); a copy with one more CBFS file is the new one (1.1.0); a copy without
  its payload (1.2.0) boots coreboot but never reaches LinuxBoot's marker.
- Releases are signed with throwaway keys under a root made for the session,
  and served by http.server in a thread, with a tampered image, a forged
  envelope, and a download that is cut short.
- The board: chip.bin is the flash (`flashrom -p dummy:emulate=W25Q128FV,
  image=chip.bin`); power-on starts QEMU with `-bios chip.bin` and its serial
  console on a TCP socket that waits for a client (so no output is lost);
  power-off kills it. So a power cycle boots whatever the chip holds.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import shutil
import signal
import socket
import stat
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from warmboot.boards import load_board
from warmboot.qemu import accel_args, choose_accel
from warmboot.release import (
    add_signatures,
    build_root,
    create_release,
    encode_envelope,
    unsigned_root_envelope,
)
from warmboot.release.keys import ED25519, generate_private_key, signer_from_private_key
from wbtest import TOP

BOARD = "qemu-q35"
CHIP = "W25Q128.V"  # what flashrom 1.3 calls the emulated W25Q128FV
CHIP_SIZE = 16 << 20
BANNER_REGEX = r"coreboot-4\.15\S* .* bootblock starting"
MARKER = "warmboot: linuxboot ready"
FAKE_FLASHROM = Path(__file__).with_name("fake_flashrom.py")

# Exit statuses of warmboot-lab flash (docs/lab.md).
EXIT = {
    "OK": 0,
    "ERROR": 1,
    "REFUSED": 3,
    "BUSY": 4,
    "CANCELLED": 5,
    "ROLLED_BACK": 6,
    "BRICKED": 7,
}


@dataclass(frozen=True)
class Images:
    old: bytes  # release 1.0.0, and what the board's chip holds at the start
    new: bytes  # release 1.1.0: one more CBFS file
    no_payload: bytes  # release 1.2.0: coreboot without its payload


@dataclass
class ReleaseServer:
    """dist/ over HTTP, and the same files misbehaving under other prefixes:

    /cut/…           coreboot.rom stops halfway
    /trickle/…       coreboot.rom comes one byte a second (never done in time)
    /trickle-head/…  release.json's response headers come one byte a second
    /redirect/…      302 to the same file under /dist/ on "localhost" (another host name)
    /redirect-same/… 302 to the same file under /dist/ on this host
    """

    root: Path
    url: str
    requests: list[str] = field(default_factory=list)

    def release_url(self, version: str, tree: str = "dist") -> str:
        return f"{self.url}/{tree}/{BOARD}/{version}/"

    def fetched(self, suffix: str) -> list[str]:
        return [path for path in self.requests if path.endswith(suffix)]


class _Handler(SimpleHTTPRequestHandler):
    server_state: ReleaseServer

    def log_message(self, format: str, *args: object) -> None:
        pass

    def translate_path(self, path: str) -> str:
        for prefix in ("/cut/", "/trickle/", "/trickle-head/"):
            if path.startswith(prefix):
                path = "/dist/" + path[len(prefix) :]
        return super().translate_path(path)

    def _trickle(self, data: bytes, seconds: float = 120) -> None:
        """One byte a second until `seconds` pass or the client goes away."""
        with contextlib.suppress(OSError):
            for byte in data[: int(seconds)]:
                self.wfile.write(bytes([byte]))
                self.wfile.flush()
                time.sleep(1)
        self.close_connection = True

    def do_GET(self) -> None:
        self.server_state.requests.append(self.path)
        for prefix, host in (("/redirect/", "localhost"), ("/redirect-same/", "127.0.0.1")):
            if self.path.startswith(prefix):
                port = self.server.server_address[1]
                self.send_response(302)
                self.send_header(
                    "Location", f"http://{host}:{port}/dist/" + self.path[len(prefix) :]
                )
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
        if self.path.startswith("/trickle-head/") and self.path.endswith("/release.json"):
            self._trickle(b"HTTP/1.0 200 OK\r\nContent-Length: 10\r\n\r\n0123456789")
            return
        if self.path.startswith("/trickle/") and self.path.endswith("/coreboot.rom"):
            data = Path(self.translate_path(self.path)).read_bytes()
            self.send_response(200)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self._trickle(data)
            return
        if self.path.startswith("/cut/") and self.path.endswith("/coreboot.rom"):
            data = Path(self.translate_path(self.path)).read_bytes()
            self.send_response(200)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data[: len(data) // 2])
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_RDWR)
            self.close_connection = True
            return
        super().do_GET()


@dataclass(frozen=True)
class SignedReleases:
    root_file: Path
    server: ReleaseServer


def make_images(rom: Path, cbfstool: Path, work: Path) -> Images:
    old = work / "old.rom"
    shutil.copyfile(rom, old)
    new, no_payload = work / "new.rom", work / "no-payload.rom"
    shutil.copyfile(old, new)
    shutil.copyfile(old, no_payload)
    marker = work / "marker.txt"
    marker.write_text("warmboot lab test: the new image\n")
    for argv in (
        [new, "add", "-r", "COREBOOT", "-t", "raw", "-n", "test/marker", "-f", marker],
        [no_payload, "remove", "-n", "fallback/payload"],
    ):
        subprocess.run([cbfstool, *map(str, argv)], check=True, capture_output=True)
    return Images(old.read_bytes(), new.read_bytes(), no_payload.read_bytes())


def make_root(work: Path, now: datetime):
    """A throwaway trusted root (work/root.json, version 1, one root and one release
    key); returns the root file and the release key's signer."""
    root_key = signer_from_private_key(generate_private_key(ED25519))
    release_key = signer_from_private_key(generate_private_key(ED25519))
    metadata = build_root(
        version=1,
        expires=now + timedelta(days=30),
        root_keys=[root_key.public_key],
        root_threshold=1,
        release_keys=[release_key.public_key],
        release_threshold=1,
    )
    root_file = work / "root.json"
    root_file.write_bytes(
        encode_envelope(add_signatures(unsigned_root_envelope(metadata), [root_key]))
    )
    return root_file, release_key


def write_releases(dist: Path, work: Path, images: Images, manifest: bytes) -> Path:
    """Sign 1.0.0, 1.1.0 and 1.2.0 into dist/dist/, a tampered and a forged 1.1.0
    beside them; return the trusted root file."""
    now = datetime.now(UTC).replace(microsecond=0)
    root_file, release_key = make_root(work, now)
    (work / "manifest.json").write_bytes(manifest)
    for version, security_version, image in (
        ("1.0.0", 1, images.old),
        ("1.1.0", 1, images.new),
        ("1.2.0", 1, images.no_payload),
    ):
        rom = work / f"{version}.rom"
        rom.write_bytes(image)
        create_release(
            dist / "dist" / BOARD / version,
            rom=rom,
            manifest=work / "manifest.json",
            board=BOARD,
            version=version,
            security_version=security_version,
            expires=now + timedelta(days=30),
            signers=[release_key],
            root_chain=[root_file],
        )
    # The same release with one byte of the image changed on the server.
    tampered = dist / "tampered" / BOARD / "1.1.0"
    shutil.copytree(dist / "dist" / BOARD / "1.1.0", tampered)
    data = bytearray((tampered / "coreboot.rom").read_bytes())
    data[(8 << 20) + 0x1000] ^= 0x01
    (tampered / "coreboot.rom").write_bytes(bytes(data))
    # The same release with its envelope's signature changed.
    forged = dist / "forged" / BOARD / "1.1.0"
    shutil.copytree(dist / "dist" / BOARD / "1.1.0", forged)
    envelope = json.loads((forged / "release.json").read_text())
    sig = envelope["signatures"][0]["sig"]
    envelope["signatures"][0]["sig"] = ("B" if sig[0] == "A" else "A") + sig[1:]
    (forged / "release.json").write_text(
        json.dumps(envelope, sort_keys=True, indent=2, ensure_ascii=True) + "\n"
    )
    return root_file


def serve(directory: Path) -> tuple[ReleaseServer, ThreadingHTTPServer]:
    """An HTTP server for `directory` on 127.0.0.1, in a thread; shut it down when done."""
    state = ReleaseServer(directory, "")
    handler = type("Handler", (_Handler,), {"server_state": state})
    httpd = ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(handler, directory=str(directory))
    )
    state.url = f"http://127.0.0.1:{httpd.server_address[1]}"
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    return state, httpd


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _script(path: Path, text: str) -> Path:
    path.write_text(text)
    path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return path


def toml_value(value: object) -> str:
    """A TOML value; JSON strings and lists of strings are valid TOML."""
    return json.dumps(value)


def place_toml(
    name: str,
    *,
    programmer: str,
    chip: str,
    size: int,
    console: str,
    on: str = '"true"',
    off: str = '"true"',
) -> str:
    """A [places.NAME] entry with its flashrom, power and console tables (TOML
    values given as TOML text)."""
    return f"""
[places.{name}]
board = "{BOARD}"

[places.{name}.flashrom]
programmer = {toml_value(programmer)}
chip = {toml_value(chip)}
size = {size}

[places.{name}.power]
on = {on}
off = {off}

[places.{name}.console]
{console}
"""


@dataclass
class LabRun:
    returncode: int
    stdout: str
    stderr: str
    run_dir: Path

    @property
    def record(self) -> dict:
        return json.loads((self.run_dir / "result.json").read_text())

    def console_log(self, label: str) -> str:
        return (self.run_dir / "console" / f"{label}.log").read_text(errors="replace")

    def step(self, name: str) -> dict:
        return next(step for step in self.record["steps"] if step["name"] == name)

    def step_names(self) -> list[str]:
        return [step["name"] for step in self.record["steps"]]


@dataclass
class QemuBoard:
    """One place: a dummy flash chip, power scripts around QEMU, a TCP console."""

    home: Path
    releases: SignedReleases
    port: int

    @property
    def chip(self) -> Path:
        return self.home / "chip.bin"

    @property
    def programmer(self) -> str:
        return f"dummy:emulate=W25Q128FV,image={self.chip}"

    def install_power_scripts(self) -> None:
        qemu = [
            "qemu-system-x86_64",
            "-M",
            "q35",
            "-m",
            "512M",
            "-bios",
            '"$dir/chip.bin"',
            "-serial",
            f"tcp:127.0.0.1:{self.port},server=on,wait=on",
            "-display",
            "none",
            "-nodefaults",
            *accel_args(choose_accel(load_board(TOP, BOARD))),
        ]
        _script(
            self.home / "power-on",
            f"""#!/bin/sh
# Power on: QEMU reads the chip like a board reading its flash at reset. Its
# console waits for a client before the guest starts, so no output is lost.
dir=$(dirname "$0")
if [ -f "$dir/qemu.pid" ] && kill -0 "$(cat "$dir/qemu.pid")" 2>/dev/null; then exit 0; fi
{" ".join(qemu)} </dev/null >>"$dir/qemu.log" 2>&1 &
echo $! > "$dir/qemu.pid"
""",
        )
        _script(
            self.home / "power-off",
            """#!/bin/sh
# Power off: stop QEMU and wait until it is gone (a zombie counts as gone).
dir=$(dirname "$0")
[ -f "$dir/qemu.pid" ] || exit 0
pid=$(cat "$dir/qemu.pid")
kill "$pid" 2>/dev/null
i=0
while [ $i -lt 100 ]; do
    state=$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null)
    { [ -z "$state" ] || [ "$state" = Z ]; } && break
    sleep 0.05; i=$((i + 1))
done
kill -9 "$pid" 2>/dev/null
rm -f "$dir/qemu.pid"
exit 0
""",
        )

    def flashrom_command(self, mode: str | None) -> list[str]:
        if mode is None:
            return ["flashrom"]
        return [
            sys.executable,
            str(FAKE_FLASHROM),
            mode,
            str(self.chip),
            str(self.home / "fake-state"),
        ]

    def config(
        self,
        *,
        flashrom: str | None = None,
        programmer: str | None = None,
        chip: str = CHIP,
        marker_timeout: float = 60,
        rollback_marker_timeout: float | None = None,
        failures: tuple[str, ...] = (),
        flashrom_timeout: float = 120,
        name: str = "lab.toml",
        download_max_seconds: float = 900,
        lab_extra: str = "",
    ) -> Path:
        rollback = ""
        if rollback_marker_timeout is not None:
            rollback = f"""rollback_markers = [
    {{ name = "coreboot", regex = {toml_value(BANNER_REGEX)}, timeout = 30 }},
    {{ name = "linuxboot", text = {toml_value(MARKER)}, timeout = {rollback_marker_timeout} }},
]"""
        path = self.home / name
        path.write_text(f"""\
[lab]
runs = "runs"
locks = "locks"
cache = "cache"
root = {toml_value(str(self.releases.root_file))}
download_timeout = 10
download_max_seconds = {download_max_seconds}
{lab_extra}

[places.q35]
board = "{BOARD}"
description = "QEMU q35 whose flash is flashrom's dummy programmer"

[places.q35.flashrom]
command = {toml_value(self.flashrom_command(flashrom))}
programmer = {toml_value(programmer or self.programmer)}
chip = {toml_value(chip)}
size = {CHIP_SIZE}
timeout = {flashrom_timeout}

[places.q35.power]
on = {toml_value(str(self.home / "power-on"))}
off = {toml_value(str(self.home / "power-off"))}
cycle_delay = 0.1
timeout = 30

[places.q35.console]
tcp = "127.0.0.1:{self.port}"

[places.q35.boot]
markers = [
    {{ name = "coreboot", regex = {toml_value(BANNER_REGEX)}, timeout = 30 }},
    {{ name = "linuxboot", text = {toml_value(MARKER)}, timeout = {marker_timeout} }},
]
failures = {toml_value(list(failures))}
{rollback}
""")
        return path

    def command(
        self, release_url: str, *extra: str, config: Path | None = None, run_dir: Path | None = None
    ) -> list[str]:
        run_dir = run_dir or self.home / "run"
        return [
            sys.executable,
            "-m",
            "warmboot.lab.cli",
            "flash",
            "--config",
            str(config or self.config()),
            "--place",
            "q35",
            "--release",
            release_url,
            "--run-dir",
            str(run_dir),
            *extra,
        ]

    def recover(
        self, *extra: str, config: Path | None = None, run_dir: Path, timeout: float = 300
    ) -> LabRun:
        """`warmboot-lab recover --place q35`."""
        proc = subprocess.run(
            [
                sys.executable,
                "-m",
                "warmboot.lab.cli",
                "recover",
                "--config",
                str(config or self.config()),
                "--place",
                "q35",
                "--run-dir",
                str(run_dir),
                *extra,
            ],
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        return LabRun(proc.returncode, proc.stdout, proc.stderr, run_dir)

    def start_flash(self, release_url: str, config: Path, run_dir: Path) -> subprocess.Popen:
        """A flash run in the background, in its own session (as CI starts it)."""
        return subprocess.Popen(
            self.command(release_url, config=config, run_dir=run_dir),
            text=True,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )

    def wait_for_state(self, name: str, timeout: float = 60) -> Path:
        """Wait until the fake flashrom creates fake-state/`name`."""
        marker, deadline = self.home / "fake-state" / name, time.monotonic() + timeout
        while not marker.exists():
            assert time.monotonic() < deadline, f"{marker} did not appear"
            time.sleep(0.02)
        return marker

    def flash(
        self,
        release_url: str,
        *extra: str,
        config: Path | None = None,
        run_dir: Path | None = None,
        timeout: float = 300,
    ) -> LabRun:
        run_dir = run_dir or self.home / "run"
        proc = subprocess.run(
            self.command(release_url, *extra, config=config, run_dir=run_dir),
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        return LabRun(proc.returncode, proc.stdout, proc.stderr, run_dir)

    def flash_and_interrupt(
        self, release_url: str, config: Path, when: str, timeout: float = 300
    ) -> tuple[LabRun, list[str]]:
        """Run a flash and, once the fake flashrom creates fake-state/`when`, send SIGINT
        to its whole process group, as Ctrl-C on a terminal does. Returns the run (its
        stderr without the signal notices) and the notices."""
        proc = subprocess.Popen(
            self.command(release_url, config=config),
            text=True,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
        try:
            marker, deadline = self.home / "fake-state" / when, time.monotonic() + 60
            while not marker.exists():
                assert time.monotonic() < deadline, f"{marker} did not appear"
                time.sleep(0.02)
            os.killpg(proc.pid, signal.SIGINT)
            stdout, stderr = proc.communicate(timeout=timeout)
        finally:
            proc.kill()
        lines = stderr.splitlines(keepends=True)
        notices = [line for line in lines if line.startswith("warmboot-lab: SIGINT received: ")]
        rest = "".join(line for line in lines if line not in notices)
        return (
            LabRun(proc.returncode, stdout, rest, self.home / "run"),
            [line.rstrip("\n") for line in notices],
        )

    def power_off(self) -> None:
        subprocess.run([self.home / "power-off"], check=False, timeout=30)
