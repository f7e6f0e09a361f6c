"""SIGINT, SIGTERM and SIGHUP during a run: noted, never obeyed mid-write.

A signal that killed the tool while flashrom writes would leave half a chip
behind, unnoticed. So the run installs handlers that only record the first
signal and say on stderr what will happen; the flow looks at `received` at
safe points (and a download polls it, so it stops within a fraction of a
second): before the write it stops (CANCELLED), after the write and its
verify it rolls back, and a rollback or recovery always runs to its end.
Children (flashrom, power commands) run in their own sessions, so the terminal's
Ctrl-C reaches only this process. SIGKILL cannot be deferred: the result
record then still says RUNNING, and names the step that was running.
"""

from __future__ import annotations

import os
import signal
import threading
from types import FrameType

HANDLED_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)

# What the run does when a signal arrives, by phase; shown on stderr.
PHASE_MESSAGES = {
    "prepare": "stopping before anything is written",
    "write": "the write and its verify finish first, then the previous image is restored",
    "boot-check": "stopping the boot check; the previous image is restored",
    "rollback": "the rollback is not interruptible; it ends within its timeouts",
    "recover": "the recovery is not interruptible; it ends within its timeouts",
    "done": "the run is finishing",
}


class DeferredSignals:
    """A context manager; `received` names the first signal caught, or is None."""

    def __init__(self, prog: str = "warmboot-lab"):
        self.prog = prog
        self.received: str | None = None
        self.phase = "prepare"
        self._previous: dict[int, object] = {}

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        name = signal.Signals(signum).name
        if self.received is None:
            self.received = name
        message = PHASE_MESSAGES.get(self.phase, "")
        # os.write, not print: the handler may run while the main thread is
        # inside a print to stderr, and buffered I/O is not reentrant.
        os.write(2, f"{self.prog}: {name} received: {message}\n".encode())

    def __enter__(self) -> DeferredSignals:
        # Handlers can only be installed from the main thread (tests may call
        # the flow from another one; it then just runs without them).
        if threading.current_thread() is threading.main_thread():
            for signum in HANDLED_SIGNALS:
                self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)  # type: ignore[arg-type]  # as getsignal gave it
        self._previous.clear()
