"""When each byte of the serial console arrived at the host.

Downtime and its phases are measured on the host, from the serial console
(as tests/crashdump does with QemuMachine.elapsed()): a guest's own clocks
restart with every kernel and firmware has none. StampedMachine is a
QemuMachine that notes the arrival time of every chunk it reads, so any
marker's time can be looked up after the run, in any order.
"""
from __future__ import annotations

import bisect
import re
import threading
import time
from dataclasses import dataclass

from warmboot.qemu import QemuMachine

from .errors import GuestRunError


@dataclass(frozen=True)
class ConsoleMark:
    """A marker's match on the console: when its last byte arrived (seconds
    since QEMU started), where it ends, and what it captured."""

    seconds: float
    end: int
    match: re.Match


class ConsoleClock:
    """The console's bytes and, per chunk, the byte offset it ended at and when it came."""

    def __init__(self) -> None:
        self._data = bytearray()
        self._ends: list[int] = []
        self._times: list[float] = []
        self._lock = threading.Lock()
        self.origin = time.monotonic()

    def record(self, chunk: bytes) -> None:
        now = time.monotonic() - self.origin
        with self._lock:
            self._data += chunk
            self._ends.append(len(self._data))
            self._times.append(now)

    @property
    def size(self) -> int:
        with self._lock:
            return len(self._data)

    def find(self, pattern: str, start: int = 0) -> ConsoleMark | None:
        """The first match of the regex pattern at or after byte offset start."""
        with self._lock:
            text = bytes(self._data)
            ends, times = list(self._ends), list(self._times)
        match = re.compile(pattern.encode()).search(text, start)
        if not match:
            return None
        # The chunk holding the match's last byte.
        chunk = bisect.bisect_left(ends, match.end())
        return ConsoleMark(times[chunk], match.end(), match)

    def require(self, pattern: str, start: int, what: str) -> ConsoleMark:
        mark = self.find(pattern, start)
        if mark is None:
            raise GuestRunError(f"{what}: {pattern!r} is not on the serial console")
        return mark


class _StampingLog:
    """Stands in for QemuMachine's console log file: every chunk QEMU's serial
    pipe yields passes through write() before it reaches the buffer."""

    def __init__(self, log, clock: ConsoleClock):
        self._log = log
        self._clock = clock

    def write(self, chunk: bytes) -> int:
        self._clock.record(chunk)
        return self._log.write(chunk)

    def __getattr__(self, name):
        return getattr(self._log, name)


class StampedMachine(QemuMachine):
    """A QemuMachine whose console bytes carry their arrival times (self.clock)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.clock = ConsoleClock()

    def _pump(self) -> None:
        # The reader thread starts after start() opened the log and the
        # process, so the wrapper sees every chunk; the clock's origin is
        # QEMU's start, as for elapsed().
        self.clock.origin = self.started_at
        self._log = _StampingLog(self._log, self.clock)
        super()._pump()
