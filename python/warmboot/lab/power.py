"""Power control: the place's on, off and cycle commands, run with a timeout."""

from __future__ import annotations

import time

from .commands import CommandRunner
from .config import PowerSettings
from .errors import PowerError


class PowerControl:
    def __init__(self, settings: PowerSettings, runner: CommandRunner, place: str):
        self.settings = settings
        self.runner = runner
        self.place = place

    def _run(self, action: str, argv: tuple[str, ...], label: str) -> None:
        run = self.runner.run(
            label, argv, self.settings.timeout, env={"WARMBOOT_LAB_POWER": action}
        )
        if not run.ok:
            raise PowerError(
                f"place {self.place}: power {action} failed: "
                f"{run.describe_failure()} (log {run.log})"
            )

    def on(self, label: str = "power-on") -> None:
        self._run("on", self.settings.on, label)

    def off(self, label: str = "power-off") -> None:
        self._run("off", self.settings.off, label)

    def cycle(self, label: str = "power-cycle") -> None:
        if self.settings.cycle is not None:
            self._run("cycle", self.settings.cycle, label)
            return
        self.off(f"{label}-off")
        time.sleep(self.settings.cycle_delay)
        self.on(f"{label}-on")
