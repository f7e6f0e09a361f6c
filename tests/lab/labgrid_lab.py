"""A labgrid lab on 127.0.0.1 for the labgrid tests: a real labgrid-coordinator, a
real labgrid-exporter exporting two places, and an HTTP power switch.

Each place is a QEMU q35 board of labkit.py (its flash is flashrom's dummy
programmer on chip.bin, its serial QEMU's TCP socket), exported as labgrid
resources:

    NetworkFlashrom    host 127.0.0.1, programmer dummy:emulate=W25Q128FV,image=chip.bin
    NetworkSerialPort  host 127.0.0.1, port P, protocol raw (QEMU -serial tcp:…,server=on)
    NetworkPowerPort   model simplerest, host http://127.0.0.1:PDU/outlet/{index}/{value}

The power switch is what a lab's network PDU is to labgrid's NetworkPowerDriver
(model "simplerest": GET …/outlet/N/1 switches outlet N on, …/0 off, …/outlet/N
reads it): outlet N runs board N's power-on or power-off script, so switching it
on boots whatever the chip holds.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from labkit import BANNER_REGEX, CHIP, CHIP_SIZE, MARKER, QemuBoard, free_port, toml_value

BIN = Path(sys.executable).parent
PLACES = ("q35-a", "q35-b")
EXPORTER = "lab1"


class _PowerSwitch(BaseHTTPRequestHandler):
    boards: list[QemuBoard]
    log: list[str]

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        parts = self.path.strip("/").split("/")
        try:
            board = self.boards[int(parts[1])]
        except (IndexError, ValueError):
            self.send_error(404)
            return
        if len(parts) == 3 and parts[2] in ("0", "1"):
            script = "power-on" if parts[2] == "1" else "power-off"
            self.log.append(f"{parts[1]} {script}")
            done = subprocess.run([board.home / script], capture_output=True, timeout=60)
            body = b"" if done.returncode == 0 else done.stderr
            self.send_response(200 if done.returncode == 0 else 500)
        else:
            pid = board.home / "qemu.pid"
            body = b"1" if pid.exists() else b"0"
            self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@dataclass
class LabgridLab:
    home: Path
    coordinator: str
    boards: dict[str, QemuBoard]
    power_log: list[str]

    def client(
        self, *argv: str, user: str | None = None, check: bool = True
    ) -> subprocess.CompletedProcess:
        """labgrid-client, as a lab user runs it (LG_USERNAME another user's name)."""
        env = {**os.environ, "LG_COORDINATOR": self.coordinator}
        if user:
            env["LG_USERNAME"] = user
        done = subprocess.run(
            [BIN / "labgrid-client", "-x", self.coordinator, *argv],
            capture_output=True,
            text=True,
            timeout=60,
            env=env,
        )
        if check:
            assert done.returncode == 0, done.stdout + done.stderr
        return done

    def holder(self, place: str) -> str | None:
        """Who has acquired `place`, as the coordinator says."""
        shown = self.client("-p", place, "show").stdout
        line = next(line for line in shown.splitlines() if line.strip().startswith("acquired:"))
        value = line.split(":", 1)[1].strip()
        return None if value == "None" else value

    def config(
        self,
        name: str = "lab.toml",
        flashrom: dict[str, str] | None = None,
        failures: tuple[str, ...] = (),
    ) -> Path:
        """lab.toml naming both labgrid places; `flashrom` maps a place to a fake flashrom
        mode (labkit's fake_flashrom.py) for fault injection."""
        flashrom = flashrom or {}
        places = []
        for place, board in self.boards.items():
            places.append(f"""
[places.{place}]
board = "qemu-q35"
description = "labgrid place {place}: QEMU q35, dummy-flashrom chip"

[places.{place}.labgrid]
place = "{place}"

[places.{place}.flashrom]
command = {toml_value(board.flashrom_command(flashrom.get(place)))}
chip = "{CHIP}"
size = {CHIP_SIZE}
timeout = 120

[places.{place}.power]
cycle_delay = 0.1
timeout = 60

[places.{place}.boot]
markers = [
    {{ name = "coreboot", regex = {toml_value(BANNER_REGEX)}, timeout = 30 }},
    {{ name = "linuxboot", text = {toml_value(MARKER)}, timeout = 60 }},
]
failures = {toml_value(list(failures))}
""")
        root = next(iter(self.boards.values())).releases.root_file
        path = self.home / name
        path.write_text(
            f"""[lab]
runs = "runs"
locks = "locks"
cache = "cache"
root = {toml_value(str(root))}
labgrid_coordinator = "{self.coordinator}"
download_timeout = 10
"""
            + "".join(places)
        )
        return path

    def flash_command(
        self, place: str, release_url: str, run_dir: Path, config: Path, *extra: str
    ) -> list[str]:
        return [
            sys.executable,
            "-m",
            "warmboot.lab.cli",
            "flash",
            "--config",
            str(config),
            "--place",
            place,
            "--release",
            release_url,
            "--run-dir",
            str(run_dir),
            *extra,
        ]


def _exporter_yaml(boards: dict[str, QemuBoard], power_port: int) -> str:
    groups = []
    for index, (place, board) in enumerate(boards.items()):
        groups.append(f"""{place}:
  NetworkFlashrom:
    host: 127.0.0.1
    programmer: "{board.programmer}"
  NetworkSerialPort:
    host: 127.0.0.1
    port: {board.port}
    speed: 115200
    protocol: raw
  NetworkPowerPort:
    model: simplerest
    host: "http://127.0.0.1:{power_port}/outlet/{{index}}/{{value}}"
    index: {index}
""")
    return "".join(groups)


def _wait_for(predicate, what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"{what} did not happen within {timeout} s"
        time.sleep(0.1)


def _listening(address: str) -> bool:
    host, port = address.rsplit(":", 1)
    with socket.socket() as sock:
        return sock.connect_ex((host, int(port))) == 0


def _exported(exporter: subprocess.Popen, log: Path, coordinator: str) -> bool:
    # labgrid-exporter gives up when it cannot reach the coordinator; say so at once,
    # with its log, rather than waiting out the timeout.
    assert exporter.poll() is None, f"labgrid-exporter exited:\n{log.read_text()[-2000:]}"
    done = subprocess.run(
        [BIN / "labgrid-client", "-x", coordinator, "resources"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    return all(f"{EXPORTER}/{place}/NetworkPowerPort" in done.stdout for place in PLACES)


@contextlib.contextmanager
def labgrid_lab(home: Path, releases, old_image: bytes):
    """Start the switch, the coordinator and the exporter; create the two places."""
    boards = {}
    for place in PLACES:
        board_home = home / place
        board_home.mkdir(parents=True)
        board = QemuBoard(board_home, releases, free_port())
        board.chip.write_bytes(old_image)
        board.install_power_scripts()
        boards[place] = board
    power_log: list[str] = []
    handler = type("Switch", (_PowerSwitch,), {"boards": list(boards.values()), "log": power_log})
    switch = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=switch.serve_forever, daemon=True).start()
    coordinator = f"127.0.0.1:{free_port()}"
    (home / "coordinator").mkdir()
    (home / "exporter.yaml").write_text(_exporter_yaml(boards, switch.server_address[1]))
    processes: list[subprocess.Popen] = []
    try:
        with open(home / "coordinator.log", "wb") as log:  # the child keeps its own copy
            processes.append(
                subprocess.Popen(
                    [BIN / "labgrid-coordinator", "-l", coordinator],
                    cwd=home / "coordinator",
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
            )
        # The exporter exits if the coordinator is not yet accepting connections.
        _wait_for(lambda: _listening(coordinator), "the coordinator listening")
        with open(home / "exporter.log", "wb") as log:
            processes.append(
                subprocess.Popen(
                    [
                        BIN / "labgrid-exporter",
                        "-c",
                        coordinator,
                        "-n",
                        EXPORTER,
                        "--hostname",
                        "127.0.0.1",
                        str(home / "exporter.yaml"),
                    ],
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
            )
        exporter = processes[-1]
        _wait_for(
            lambda: _exported(exporter, home / "exporter.log", coordinator),
            "the exporter's resources",
        )
        lab = LabgridLab(home, coordinator, boards, power_log)
        for place in PLACES:
            lab.client("-p", place, "create")
            lab.client("-p", place, "add-match", f"{EXPORTER}/{place}/*")
        yield lab
    finally:
        for board in boards.values():
            board.power_off()
        for proc in reversed(processes):
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)
        switch.shutdown()
        switch.server_close()
