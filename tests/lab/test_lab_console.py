"""The console watcher on a real pseudo-terminal and on real TCP sockets."""

from __future__ import annotations

import os
import pty
import re
import socket
import termios
import threading
import time

import pytest

from warmboot.lab.config import BootMarker, SerialConsole, TcpConsole
from warmboot.lab.console import ConsoleWatcher
from warmboot.lab.errors import BootCheckError

BANNER = BootMarker("coreboot", r"coreboot-4\.15\S* .* bootblock starting", 10)
READY = BootMarker("linuxboot", r"warmboot: linuxboot ready", 10, "warmboot: linuxboot ready")


def wait_until(condition, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def test_serial_device_is_read_raw_at_the_configured_baud(tmp_path):
    master, slave = pty.openpty()
    device = os.ttyname(slave)
    try:
        with ConsoleWatcher(SerialConsole(device, 57600), tmp_path / "serial.log") as watcher:
            wait_until(lambda: watcher.connections == 1)
            attrs = termios.tcgetattr(slave)
            assert attrs[4] == attrs[5] == termios.B57600
            assert not attrs[3] & (termios.ICANON | termios.ECHO | termios.ISIG)
            assert not attrs[0] & (termios.ICRNL | termios.IXON)
            # Raw: no line buffering (a partial line arrives), no CR/LF translation.
            os.write(
                master,
                b"coreboot-4.15-abc Thu Jan  1 bootblock starting (log level: 7)"
                b"...\r\nwarmboot: linux",
            )
            hit = watcher.wait_for(BANNER, 0)
            assert hit.line.startswith("coreboot-4.15-abc")
            wait_until(lambda: watcher.text().endswith("warmboot: linux"))
            os.write(master, b"boot ready\r\n")
            watcher.wait_for(READY, hit.end)
        assert (tmp_path / "serial.log").read_bytes().count(b"\r\n") == 2
    finally:
        os.close(master)
        os.close(slave)


class RestartingConsole:
    """A TCP console server that a test can stop and start again on the same port,
    like QEMU's socket across a power cycle."""

    def __init__(self):
        self.port = 0
        self.server: socket.socket | None = None

    def boot(self, output: bytes, delay: float = 0.0) -> threading.Thread:
        server = socket.socket()
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        server.bind(("127.0.0.1", self.port))
        self.port = server.getsockname()[1]
        server.listen(1)
        self.server = server

        def run() -> None:
            with server:
                client, _ = server.accept()
            # No listener while this boot runs: a reconnect after it ends waits
            # for the next boot rather than sitting in a dying socket's backlog.
            with client:
                time.sleep(delay)
                client.sendall(output)
                time.sleep(0.3)

        thread = threading.Thread(target=run, daemon=True)
        thread.start()
        return thread


def test_tcp_console_is_reopened_after_the_board_restarts_its_socket(tmp_path):
    console = RestartingConsole()
    first = console.boot(b"coreboot-4.15-old x bootblock starting\r\n")
    with ConsoleWatcher(TcpConsole("127.0.0.1", console.port), tmp_path / "c.log") as watcher:
        first.join()
        wait_until(lambda: "old" in watcher.text())
        start = watcher.position  # what the old boot printed does not count
        console.boot(
            b"coreboot-4.15-new x bootblock starting\r\nwarmboot: linuxboot ready\r\n", delay=0.2
        )
        hit = watcher.wait_for(BANNER, start)
        assert "new" in hit.line
        watcher.wait_for(READY, hit.end)
        assert watcher.connections == 2


def test_failure_pattern_ends_the_boot_check_without_waiting_for_the_timeout(tmp_path):
    console = RestartingConsole()
    console.boot(
        b"coreboot-4.15-x y bootblock starting\r\nCBFS: 'fallback/payload' not found."
        b"\r\nPayload not loaded.\r\n"
    )
    patient = BootMarker("linuxboot", "warmboot: linuxboot ready", 60)
    began = time.monotonic()
    with (
        ConsoleWatcher(TcpConsole("127.0.0.1", console.port), tmp_path / "c.log") as watcher,
        pytest.raises(BootCheckError, match="failure pattern 'Payload not loaded'"),
    ):
        watcher.wait_for(patient, 0, failures=[re.compile(rb"Payload not loaded")])
    assert time.monotonic() - began < 10


def test_marker_timeout_names_the_marker_and_the_last_console_line(tmp_path):
    console = RestartingConsole()
    console.boot(b"coreboot-4.15-x y bootblock starting\r\nPayload not loaded.\r\n")
    quick = BootMarker("linuxboot", "warmboot: linuxboot ready", 1, "warmboot: linuxboot ready")
    with (
        ConsoleWatcher(TcpConsole("127.0.0.1", console.port), tmp_path / "c.log") as watcher,
        pytest.raises(BootCheckError) as error,
    ):
        watcher.wait_for(quick, 0, after="marker 'coreboot'")
    assert str(error.value) == (
        "marker 'linuxboot' ('warmboot: linuxboot ready') did not "
        "appear within 1 s after marker 'coreboot'; last console line: "
        "'Payload not loaded.'"
    )


def test_console_that_never_answers_is_reported_as_such(tmp_path):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    quick = BootMarker("coreboot", "bootblock starting", 0.5)
    with (
        ConsoleWatcher(TcpConsole("127.0.0.1", port), tmp_path / "c.log") as watcher,
        pytest.raises(BootCheckError, match=f"the console tcp:127.0.0.1:{port} never answered"),
    ):
        watcher.wait_for(quick, 0)
