"""Helpers shared by the tests: the checkout, SCons runs, built boards.

Imported as `wbtest` (tests/ is on sys.path through tests/conftest.py)."""

from __future__ import annotations

import contextlib
import fcntl
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

TOP = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(TOP / "python"))


@dataclass(frozen=True)
class SconsResult:
    returncode: int
    output: str
    seconds: float


def run_scons(
    args: list[str], cwd: Path = TOP, env: dict | None = None, timeout: float = 3600
) -> SconsResult:
    """Run SCons from this interpreter's environment; output is captured.
    Runs in this checkout take turns (pytest -n: one SCons at a time may own
    build/ and its signature database)."""
    with checkout_lock(cwd):
        started = time.monotonic()
        proc = subprocess.run(
            [sys.executable, "-m", "SCons", *args],
            cwd=cwd,
            env=env or os.environ.copy(),
            capture_output=True,
            text=True,
            timeout=timeout,
        )
    return SconsResult(proc.returncode, proc.stdout + proc.stderr, time.monotonic() - started)


@contextlib.contextmanager
def checkout_lock(cwd: Path) -> Iterator[None]:
    """Exclusive while a build runs in this checkout; a no-op for the copies
    tests make in their own directories."""
    if cwd.resolve() != TOP:
        yield
        return
    (TOP / "build").mkdir(exist_ok=True)
    with open(TOP / "build" / ".pytest-scons.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


@dataclass(frozen=True)
class BuiltBoard:
    name: str
    build: Path

    @property
    def rom(self) -> Path:
        return self.build / "coreboot.rom"

    @property
    def cbfstool(self) -> Path:
        return self.build / "coreboot" / "cbfstool"

    @property
    def manifest(self) -> Path:
        return self.build / "manifest.json"


def build_board(name: str, *targets: str) -> BuiltBoard:
    """`scons board=NAME [TARGETS]` in this checkout (the image alone by
    default; "." adds the test OS); a failure fails the test with the log's tail."""
    result = run_scons([f"board={name}", *targets])
    what = "-all" if targets else ""
    log = TOP / "build" / f"pytest-scons-{name}{what}.log"
    log.parent.mkdir(exist_ok=True)
    log.write_text(result.output)
    if result.returncode != 0:
        tail = "\n".join(result.output.splitlines()[-40:])
        pytest.fail(f"scons board={name} failed (full output in {log}):\n{tail}")
    return BuiltBoard(name, TOP / "build" / name)


def copy_checkout(dest: Path) -> Path:
    """A copy of the sources a build reads, so a test can change or build
    them without touching this checkout; build/ inside it is relative like
    ours, so SCons' cache serves the steps whose inputs are unchanged."""
    import shutil

    dest.mkdir(parents=True, exist_ok=True)
    for part in ("SConstruct", "python", "coreboot-config", "linuxboot", "payloads"):
        src = TOP / part
        if src.is_dir():
            shutil.copytree(src, dest / part, ignore=shutil.ignore_patterns("__pycache__"))
        elif src.exists():
            shutil.copy2(src, dest / part)
    return dest
