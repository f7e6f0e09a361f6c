"""Boot images in QEMU: start it, stream the serial console to a log, wait for
markers with timeouts, and always kill it, even when a test fails."""

from __future__ import annotations

import bisect
import functools
import os
import re
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from re import Pattern

from .boards import Board
from .errors import WarmbootError


class QemuError(WarmbootError):
    """QEMU failed to start, exited early, or a marker did not appear in time."""


class MarkerTimeout(QemuError):
    """The awaited marker did not appear on the serial console in time."""


class QemuExited(QemuError):
    """QEMU exited while we were waiting for a marker."""


def _kvm_probe_image() -> bytes:
    """A 64 KiB x86 BIOS that runs the instructions coreboot's bootblock starts
    with (rdtsc, movd to MMX, cpuid), writes 'K' to the debug port, and halts."""
    image = bytearray(b"\xf4" * 0x10000)
    code = bytes(
        [
            0x0F,
            0x31,
            0x0F,
            0x6E,
            0xC0,
            0x0F,
            0xA2,  # rdtsc; movd mm0,eax; cpuid
            0xBA,
            0xE9,
            0x00,
            0xB0,
            0x4B,
            0xEE,  # mov dx,0xe9; mov al,'K'; out
            0xF4,
            0xEB,
            0xFE,
        ]
    )  # hlt; jmp $
    image[0xFF00 : 0xFF00 + len(code)] = code
    image[0xFFF0:0xFFF3] = bytes([0xE9, 0x0D, 0xFF])  # reset vector: jmp 0xff00
    return bytes(image)


@functools.cache
def kvm_works() -> bool:
    """/dev/kvm can exist and still fail (nested sandboxes): boot a probe to see."""
    if not (os.path.exists("/dev/kvm") and os.access("/dev/kvm", os.R_OK | os.W_OK)):
        return False
    if os.uname().machine != "x86_64" or not shutil.which("qemu-system-x86_64"):
        return False
    with tempfile.TemporaryDirectory(prefix="warmboot-kvm-") as tmp:
        bios, out = Path(tmp) / "probe.bin", Path(tmp) / "probe.out"
        bios.write_bytes(_kvm_probe_image())
        proc = subprocess.Popen(
            [
                "qemu-system-x86_64",
                "-accel",
                "kvm",
                "-M",
                "q35",
                "-nodefaults",
                "-display",
                "none",
                "-bios",
                str(bios),
                "-debugcon",
                f"file:{out}",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline and proc.poll() is None:
                if out.exists() and out.read_bytes() == b"K":
                    return True
                time.sleep(0.05)
            return False
        finally:
            proc.kill()
            proc.wait()


def choose_accel(board: Board, environ=os.environ) -> str:
    """KVM where /dev/kvm works for this guest's arch, else TCG."""
    forced = environ.get("WARMBOOT_ACCEL")
    if forced:
        return forced
    if board.arch == "x86_64" and kvm_works():
        return "kvm"
    return "tcg"


# TCG's translation cache, MiB. Every boot and kexec here overwrites memory
# that held code, and TCG pays for each write to a page it translated code
# from (a real CPU pays nothing); the cost grows with the translations kept.
# At 32 MiB the cache flushes often enough that those writes stay cheap: at
# 256 MiB the 8 GiB capture boot's 64 MiB swiotlb clear took 1.9-2.3 s
# instead of 0.3-0.4 s, and whole crash-to-service runs took about 1.5x as
# long for warmboot and kdump alike (docs/benchmarks.md).
TCG_TB_SIZE_MIB = 32


def accel_args(accel: str) -> list[str]:
    return ["-accel", f"tcg,tb-size={TCG_TB_SIZE_MIB}" if accel == "tcg" else accel]


def _tail(path: Path, lines: int = 25) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


class QemuMachine:
    """One QEMU process whose first serial port is a pipe we read and log.

    Use as a context manager; leaving the block always kills QEMU.
    """

    def __init__(self, command: list[str], log_path: Path, monitor_socket: Path | None = None):
        self.command = list(command)
        self.log_path = Path(log_path)
        self.monitor_socket = Path(monitor_socket) if monitor_socket else None
        self.proc: subprocess.Popen | None = None
        self._buffer = bytearray()
        # Per chunk read from the console: the buffer's length after it, and
        # when it came (seconds since start), so any marker can be timed later.
        self._chunk_ends: list[int] = []
        self._chunk_times: list[float] = []
        self._cursor = 0
        self._cond = threading.Condition()
        self._reader: threading.Thread | None = None
        self._eof = False
        self.started_at = 0.0

    @classmethod
    def for_board(
        cls,
        board: Board,
        rom: Path,
        log_path: Path,
        extra: tuple[str, ...] = (),
        monitor: bool = False,
        accel: str | None = None,
        memory: str | None = None,
    ) -> QemuMachine:
        accel = accel or choose_accel(board)
        # A UNIX socket path must be short (108 bytes): keep it out of the build tree.
        sock = Path(tempfile.mkdtemp(prefix="warmboot-qemu-")) / "monitor" if monitor else None
        cmd = board.qemu_command(rom, tuple(accel_args(accel)) + tuple(extra), memory)
        return cls(cmd, log_path, sock)

    # -- lifecycle --------------------------------------------------------
    def start(self) -> QemuMachine:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        cmd = [*self.command, "-serial", "stdio"]
        if self.monitor_socket:
            self.monitor_socket.unlink(missing_ok=True)
            cmd += ["-monitor", f"unix:{self.monitor_socket},server=on,wait=off"]
        self._log = open(self.log_path, "wb")  # noqa: SIM115 -- open until the machine stops
        self._log.write(("# " + " ".join(cmd) + "\n").encode())
        self._log.flush()
        try:
            self.proc = subprocess.Popen(
                cmd,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                start_new_session=True,
            )
        except OSError as exc:
            self._log.close()
            raise QemuError(f"cannot start {cmd[0]}: {exc}") from None
        self.started_at = time.monotonic()
        self._reader = threading.Thread(target=self._pump, name="qemu-serial", daemon=True)
        self._reader.start()
        return self

    def _pump(self) -> None:
        assert self.proc and self.proc.stdout
        fd = self.proc.stdout.fileno()
        while True:
            chunk = os.read(fd, 65536)
            if not chunk:
                break
            self._log.write(chunk)
            self._log.flush()
            now = time.monotonic() - self.started_at
            with self._cond:
                self._buffer += chunk
                self._chunk_ends.append(len(self._buffer))
                self._chunk_times.append(now)
                self._cond.notify_all()
        with self._cond:
            self._eof = True
            self._cond.notify_all()

    def stop(self, timeout: float = 5.0) -> int | None:
        """Terminate QEMU (then kill it); safe to call more than once."""
        if not self.proc:
            return None
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self._reader:
            self._reader.join(timeout)
        for stream in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            try:
                if stream:
                    stream.close()
            except OSError:
                pass
        if not self._log.closed:
            self._log.close()
        if self.monitor_socket and self.monitor_socket.parent.name.startswith("warmboot-qemu-"):
            shutil.rmtree(self.monitor_socket.parent, ignore_errors=True)
        return self.proc.returncode

    def __enter__(self) -> QemuMachine:
        if not self.proc:
            self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- console ------------------------------------------------------------
    @property
    def output(self) -> str:
        with self._cond:
            return self._buffer.decode(errors="replace")

    @property
    def console_bytes(self) -> bytes:
        """Everything the console printed so far, undecoded (byte offsets are stable)."""
        with self._cond:
            return bytes(self._buffer)

    def arrived_at(self, offset: int) -> float:
        """Seconds after start when the console byte at offset - 1 reached the host."""
        with self._cond:
            chunk = bisect.bisect_left(self._chunk_ends, offset)
            if chunk == len(self._chunk_ends):
                raise QemuError(f"console byte {offset} has not arrived")
            return self._chunk_times[chunk]

    def wait_for(self, marker: str | Pattern[str], timeout: float) -> re.Match:
        """Wait until marker (text or regex) appears after the previous match."""
        pattern = marker if isinstance(marker, re.Pattern) else re.compile(re.escape(marker))
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                text = self._buffer.decode(errors="replace")
                m = pattern.search(text, self._cursor)
                if m:
                    self._cursor = m.end()
                    return m
                if self._eof:
                    code = self.proc.wait() if self.proc else None
                    err = (
                        self.proc.stderr.read().decode(errors="replace")
                        if self.proc and self.proc.stderr
                        else ""
                    )
                    raise QemuExited(
                        f"QEMU exited (status {code}) before {pattern.pattern!r} appeared; "
                        f"stderr: {err.strip()[-500:]}; serial log {self.log_path}:\n"
                        + _tail(self.log_path)
                    )
                left = deadline - time.monotonic()
                if left <= 0:
                    raise MarkerTimeout(
                        f"{pattern.pattern!r} did not appear within {timeout:.0f} s; "
                        f"serial log {self.log_path}, last lines:\n" + _tail(self.log_path)
                    )
                self._cond.wait(min(left, 1.0))

    def wait_for_line(self, pattern: str, timeout: float) -> re.Match:
        """Like wait_for, but the match must end a complete console line, so a
        value still being printed ("6.1.19" of "6.1.192") never matches."""
        return self.wait_for(re.compile(pattern + r"(?=\r?\n)"), timeout)

    def send(self, text: str) -> None:
        """Type text on the serial console."""
        if not self.proc or not self.proc.stdin:
            raise QemuError("QEMU is not running")
        self.proc.stdin.write(text.encode())
        self.proc.stdin.flush()

    def elapsed(self) -> float:
        """Seconds since QEMU started."""
        return time.monotonic() - self.started_at

    def wait_exit(self, timeout: float) -> int:
        if not self.proc:
            raise QemuError("QEMU is not running")
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            raise QemuError(
                f"QEMU did not exit within {timeout:.0f} s; serial log "
                f"{self.log_path}:\n" + _tail(self.log_path)
            ) from None

    # -- monitor --------------------------------------------------------------
    def monitor(self, command: str, timeout: float = 30.0) -> str:
        """Run one HMP command on the monitor socket and return its output."""
        if not self.monitor_socket:
            raise QemuError("this machine was started without a monitor socket")
        deadline = time.monotonic() + timeout
        while not self.monitor_socket.exists():
            if time.monotonic() > deadline:
                raise QemuError(f"monitor socket {self.monitor_socket} never appeared")
            time.sleep(0.05)
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(timeout)
            s.connect(str(self.monitor_socket))
            _read_prompt(s)
            s.sendall(command.encode() + b"\n")
            out = _read_prompt(s)
        # HMP echoes the command line first.
        text = out.decode(errors="replace").replace("\r", "")
        lines = text.splitlines()
        return "\n".join(lines[1:-1] if len(lines) > 1 else lines)


def _read_prompt(s: socket.socket) -> bytes:
    data = b""
    while not data.endswith(b"(qemu) "):
        chunk = s.recv(4096)
        if not chunk:
            break
        data += chunk
    return data


def run_interactive(board: Board, rom: Path, log_path: Path, extra: tuple[str, ...] = ()) -> int:
    """Boot rom with the serial console (and monitor, Ctrl-A C) on this terminal,
    keeping a copy of the console in log_path."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    accel = choose_accel(board)
    cmd = [
        *board.qemu_command(rom, tuple(accel_args(accel)) + tuple(extra)),
        "-chardev",
        f"stdio,id=console,mux=on,signal=off,logfile={log_path}",
        "-serial",
        "chardev:console",
        "-mon",
        "chardev=console",
    ]
    print(
        f"warmboot: booting {rom} on {board.name} ({accel}); Ctrl-A X quits, "
        f"serial log in {log_path}",
        flush=True,
    )
    return subprocess.call(cmd)
