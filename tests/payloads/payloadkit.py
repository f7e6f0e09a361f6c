"""The payload tools built static for the host, exactly as the SCons tool
builds them for a board (imported as payloadkit)."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

from warmboot.steps.payloads import TOOLS, compile_command
from wbtest import TOP


@dataclass(frozen=True)
class Tools:
    directory: Path

    def path(self, name: str) -> Path:
        return self.directory / name

    def run(
        self, name: str, *args: object, timeout: float = 120, **kwargs
    ) -> subprocess.CompletedProcess:
        """Run a tool; text output captured, never raises on a non-zero exit."""
        return subprocess.run(
            [str(self.path(name)), *map(str, args)],
            capture_output=True,
            text=True,
            timeout=timeout,
            **kwargs,
        )


def build_tools(compiler: str, out: Path) -> dict[str, subprocess.CompletedProcess]:
    """Compile every tool in parallel; returns each compiler run."""
    out.mkdir(parents=True, exist_ok=True)
    procs = {
        name: subprocess.Popen(
            compile_command(compiler, TOP, name, out / name),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for name in TOOLS
    }
    results = {}
    for name, proc in procs.items():
        output, _ = proc.communicate(timeout=300)
        results[name] = subprocess.CompletedProcess(proc.args, proc.returncode, output, "")
    return results
