"""When each marker reached the host, from a QEMU machine's serial console.

Downtime and its phases are measured on the host, from the serial console
(as tests/crashdump does with QemuMachine.elapsed()): a guest's own clocks
restart with every kernel and firmware has none. QemuMachine notes when
every chunk of console output arrived, so any marker's time can be looked
up after the run, in any order.
"""

from __future__ import annotations

import re
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
    """Finds markers in a machine's console output and tells when they came."""

    def __init__(self, machine: QemuMachine) -> None:
        self._machine = machine

    @property
    def size(self) -> int:
        return len(self._machine.console_bytes)

    def find(self, pattern: str, start: int = 0) -> ConsoleMark | None:
        """The first match of the regex pattern at or after byte offset start."""
        match = re.compile(pattern.encode()).search(self._machine.console_bytes, start)
        if not match:
            return None
        return ConsoleMark(self._machine.arrived_at(match.end()), match.end(), match)

    def require(self, pattern: str, start: int, what: str) -> ConsoleMark:
        mark = self.find(pattern, start)
        if mark is None:
            raise GuestRunError(f"{what}: {pattern!r} is not on the serial console")
        return mark
