"""Watch a board's serial console for boot markers: a TCP socket or a serial device.

A background thread keeps the console open and logs every byte; when the
connection ends (a power cycle restarts a QEMU board and its socket, a USB
serial adapter re-enumerates) it reconnects until the watcher stops. The
watcher is started before the power cycle, so output printed right after
power-on is not missed when the console already exists; a console that only
exists while the board runs must hold its output until a client connects
(QEMU: `-serial tcp:HOST:PORT,server=on,wait=on`).

Serial devices are opened with termios in raw mode (8N1, no flow control,
no echo or line editing) at the configured baud rate; no extra dependency.
"""

from __future__ import annotations

import contextlib
import os
import re
import select
import socket
import termios
import threading
import time
import tty
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from ..fsutil import PathError, open_new
from .config import BootMarker, ConsoleSettings, TcpConsole
from .errors import BootCheckError, ConsoleError, RunInterruptedError

POLL_SECONDS = 0.2
RECONNECT_SECONDS = 0.1


class _Connection:
    """An open console: a file descriptor to select on, read and close."""

    def __init__(self, fd: int, close: Callable[[], None], recv: Callable[[], bytes]):
        self.fd = fd
        self.close = close
        self.read = recv


def configure_raw_serial(fd: int, baud: int) -> None:
    """Raw 8N1 at `baud`, no flow control, receiver on, modem lines ignored."""
    tty.setraw(fd, termios.TCSANOW)
    attrs = termios.tcgetattr(fd)
    speed = getattr(termios, f"B{baud}")
    attrs[0] &= ~(termios.IXON | termios.IXOFF | termios.IXANY)
    attrs[2] &= ~(termios.CSTOPB | termios.PARENB | getattr(termios, "CRTSCTS", 0))
    attrs[2] |= termios.CLOCAL | termios.CREAD | termios.CS8
    attrs[4] = attrs[5] = speed
    termios.tcsetattr(fd, termios.TCSANOW, attrs)


def open_console(settings: ConsoleSettings, connect_timeout: float = 1.0) -> _Connection:
    """Open the console once; OSError when it is not there (yet)."""
    if isinstance(settings, TcpConsole):
        sock = socket.create_connection((settings.host, settings.port), timeout=connect_timeout)
        sock.setblocking(False)
        return _Connection(sock.fileno(), sock.close, lambda: sock.recv(65536))
    fd = os.open(settings.device, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        configure_raw_serial(fd, settings.baud)
    except (termios.error, OSError) as exc:
        os.close(fd)
        raise ConsoleError(f"{settings.device} is not a serial device: {exc}") from None
    return _Connection(fd, lambda: os.close(fd), lambda: os.read(fd, 65536))


@dataclass(frozen=True)
class MarkerHit:
    name: str
    seconds: float  # since the watcher's reference time (the power cycle)
    line: str  # the console line it appeared in
    end: int  # where to look for the next marker


def _line_around(buffer: bytes | bytearray, start: int, end: int) -> str:
    first = buffer.rfind(b"\n", 0, start) + 1
    last = buffer.find(b"\n", end)
    line = bytes(buffer[first : last if last >= 0 else len(buffer)])
    return line.decode(errors="replace").strip("\r\n ")[:300]


class ConsoleWatcher:
    """Keeps the console open in a thread, logs it, and waits for markers.

    With `run_log`, the log is a run's own file: created new (never through a
    planted link), and a log that cannot be written (a full run directory)
    costs only the log (`log_error`), never the boot check.
    """

    def __init__(
        self,
        settings: ConsoleSettings,
        log_path: Path,
        echo: Callable[[bytes], None] | None = None,
        run_log: bool = False,
    ):
        self.settings = settings
        self.log_path = Path(log_path)
        self.echo = echo
        self.run_log = run_log
        self.log_error: str | None = None
        self.connections = 0
        self.last_error: str | None = None
        self.reference = time.monotonic()
        self._buffer = bytearray()
        self._cond = threading.Condition()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._log: BinaryIO | None = None

    # -- lifecycle ------------------------------------------------------------
    def _open_log(self) -> None:
        try:
            self.log_path.parent.mkdir(parents=True, exist_ok=True)
            if self.run_log:
                self._log = os.fdopen(open_new(self.log_path), "wb")
            else:
                self._log = open(self.log_path, "wb")  # noqa: SIM115 -- open until close()
        except (OSError, PathError) as exc:
            reason = str(exc) if isinstance(exc, PathError) else f"{self.log_path}: {exc.strerror}"
            if not self.run_log:
                raise ConsoleError(f"cannot write the console log {reason}") from None
            self.log_error = reason

    def _write_log(self, chunk: bytes) -> None:
        if self._log is None:
            return
        try:
            self._log.write(chunk)
            self._log.flush()
        except OSError as exc:
            self.log_error = f"{self.log_path}: {exc.strerror}"
            with contextlib.suppress(OSError):
                self._log.close()
            self._log = None

    def start(self) -> ConsoleWatcher:
        self._open_log()
        self._thread = threading.Thread(target=self._pump, name="lab-console", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(5)
        if self._log and not self._log.closed:
            with contextlib.suppress(OSError):
                self._log.close()

    def __enter__(self) -> ConsoleWatcher:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _pump(self) -> None:
        while not self._stop.is_set():
            try:
                connection = open_console(self.settings)
            except (OSError, ConsoleError) as exc:
                self.last_error = str(exc)
                self._stop.wait(RECONNECT_SECONDS)
                continue
            self.connections += 1
            try:
                self._read_until_closed(connection)
            except OSError as exc:  # EIO when a pty or USB serial adapter goes away
                self.last_error = str(exc)
            finally:
                connection.close()

    def _read_until_closed(self, connection: _Connection) -> None:
        while not self._stop.is_set():
            readable, _, _ = select.select([connection.fd], [], [], POLL_SECONDS)
            if not readable:
                continue
            try:
                chunk = connection.read()
            except (BlockingIOError, InterruptedError):
                continue
            if not chunk:
                return
            self._write_log(chunk)
            if self.echo:
                self.echo(chunk)
            with self._cond:
                self._buffer += chunk
                self._cond.notify_all()

    # -- reading -------------------------------------------------------------
    @property
    def position(self) -> int:
        """Where output received from now on starts (markers are looked for after it)."""
        with self._cond:
            return len(self._buffer)

    def text(self) -> str:
        with self._cond:
            return self._buffer.decode(errors="replace")

    def mark_reference(self) -> None:
        """Marker times are measured from now (call it when the power cycle starts)."""
        self.reference = time.monotonic()

    def _last_line(self) -> str:
        lines = [
            line
            for line in self._buffer[-4096:].decode(errors="replace").splitlines()
            if line.strip()
        ]
        return lines[-1].strip()[:200] if lines else "(nothing)"

    def wait_for(
        self,
        marker: BootMarker,
        start: int,
        failures: Sequence[re.Pattern[bytes]] = (),
        should_stop: Callable[[], bool] = lambda: False,
        after: str = "the power cycle",
    ) -> MarkerHit:
        """Wait until `marker` appears after offset `start`, at most its timeout.

        BootCheckError when the timeout passes or a failure pattern appears
        before the marker; RunInterruptedError when should_stop() turns true.
        """
        pattern = marker.compiled()
        deadline = time.monotonic() + marker.timeout
        with self._cond:
            while True:
                found = pattern.search(self._buffer, start)
                failed = [m for m in (f.search(self._buffer, start) for f in failures) if m]
                first_failure = min(failed, key=lambda m: m.start(), default=None)
                if first_failure and (found is None or first_failure.start() < found.start()):
                    line = _line_around(self._buffer, first_failure.start(), first_failure.end())
                    raise BootCheckError(
                        f"the console printed the failure pattern "
                        f"{first_failure.re.pattern.decode()!r} before "
                        f"marker {marker.name!r}: {line!r}"
                    )
                if found:
                    return MarkerHit(
                        marker.name,
                        time.monotonic() - self.reference,
                        _line_around(self._buffer, found.start(), found.end()),
                        found.end(),
                    )
                if should_stop():
                    raise RunInterruptedError(
                        f"interrupted while waiting for marker {marker.name!r}"
                    )
                left = deadline - time.monotonic()
                if left <= 0:
                    raise BootCheckError(self._timeout_message(marker, after))
                self._cond.wait(min(left, POLL_SECONDS))

    def _timeout_message(self, marker: BootMarker, after: str) -> str:
        where = self.settings.describe()
        if self.connections == 0:
            return (
                f"marker {marker.name!r} did not appear within {marker.timeout:g} s after "
                f"{after}: the console {where} never answered ({self.last_error})"
            )
        return (
            f"marker {marker.name!r} ({marker.describe()}) did not appear within "
            f"{marker.timeout:g} s after {after}; last console line: "
            f"{self._last_line()!r}"
        )
