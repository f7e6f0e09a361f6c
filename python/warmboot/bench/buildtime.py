"""What the SCons build costs over running its makes by hand.

A clean `scons board=BOARD --cache-disable builddir=DIR` is timed; then the
commands its logs show (`$ ...` lines of DIR/logs/coreboot.log and
linux.log: copying the verified coreboot tree, the patches, coreboot's
`make defconfig` and `make`, the kernel's tinyconfig, merge_config.sh,
olddefconfig and `make bzImage`) are run again by hand in a second
directory and timed one by one. The ratio of the two is the build system's
overhead; the rest of the SCons time is what the hand run does not do
(payload tools, initramfs, cbfstool, manifest, source checks). Then SCons
is run again with nothing changed, for the no-op time.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from warmboot.steps.coreboot import LEFTOVERS as COREBOOT_LEFTOVERS
from warmboot.steps.run import host_env

from .errors import BuildTimingError

# The inputs the coreboot step writes without logging a command (it also
# removes COREBOOT_LEFTOVERS from its fresh copy before patching).
COREBOOT_UNLOGGED_INPUTS = ("site-local", "defconfig.warmboot")


@dataclass(frozen=True)
class TimedCommand:
    command: str
    seconds: float


@dataclass(frozen=True)
class BuildTiming:
    scons_clean_seconds: float
    hand_commands: tuple[TimedCommand, ...]
    noop_seconds: tuple[float, ...]

    @property
    def hand_seconds(self) -> float:
        return sum(c.seconds for c in self.hand_commands)

    @property
    def overhead_ratio(self) -> float:
        return self.scons_clean_seconds / self.hand_seconds


def logged_commands(log: Path) -> list[list[str]]:
    """The commands a build log shows (run_logged writes `$ cmd` lines, joined by spaces)."""
    try:
        text = log.read_text()
    except FileNotFoundError:
        raise BuildTimingError(f"{log} does not exist: did the SCons build run?") from None
    return [line[2:].split() for line in text.splitlines() if line.startswith("$ ")]


def _timed(cmd: list[str], cwd: Path, log: Path) -> float:
    started = time.monotonic()
    with open(log, "ab") as out:
        out.write(f"\n$ {' '.join(cmd)}\n".encode())
        out.flush()
        done = subprocess.run(
            cmd,
            cwd=cwd,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=host_env(),
        )
    if done.returncode != 0:
        raise BuildTimingError(
            f"`{' '.join(cmd[:4])} ...` failed (exit {done.returncode}); see {log}"
        )
    return time.monotonic() - started


def _moved(cmd: list[str], old: Path, new: Path) -> list[str]:
    return [arg.replace(str(old), str(new)) for arg in cmd]


def replay_by_hand(scons_build: Path, hand_build: Path) -> tuple[TimedCommand, ...]:
    """Run the coreboot and kernel commands of scons_build's logs in hand_build."""
    hand_build.mkdir(parents=True, exist_ok=True)
    log = hand_build / "hand.log"
    timed = []
    src = hand_build / "coreboot" / "src"
    src.parent.mkdir(parents=True)
    for cmd in _coreboot_commands(scons_build):
        cmd = _moved(cmd, scons_build, hand_build)
        if cmd[0] == "make" and not (src / "defconfig.warmboot").exists():
            for name in COREBOOT_UNLOGGED_INPUTS:
                original = scons_build / "coreboot" / "src" / name
                if original.is_dir():
                    shutil.copytree(original, src / name)
                else:
                    shutil.copy2(original, src / name)
        timed.append(TimedCommand(" ".join(cmd), _timed(cmd, hand_build, log)))
        if cmd[:2] == ["cp", "-a"]:
            for name in COREBOOT_LEFTOVERS:
                leftover = src / name
                if leftover.is_dir():
                    shutil.rmtree(leftover)
                else:
                    leftover.unlink(missing_ok=True)
    linux = [
        _moved(cmd, scons_build, hand_build)
        for cmd in logged_commands(scons_build / "logs" / "linux.log")
    ]
    (hand_build / "linux" / "obj").mkdir(parents=True)
    # merge_config.sh runs in the kernel tree, like the build's configure step.
    tree = Path(linux[0][linux[0].index("-C") + 1])
    for cmd in linux:
        timed.append(TimedCommand(" ".join(cmd), _timed(cmd, tree, log)))
    return tuple(timed)


def _coreboot_commands(scons_build: Path) -> list[list[str]]:
    commands = logged_commands(scons_build / "logs" / "coreboot.log")
    if not commands or commands[0][:2] != ["cp", "-a"]:
        raise BuildTimingError(
            f"{scons_build}/logs/coreboot.log does not start by copying "
            f"the coreboot tree; the build changed: update {__name__}"
        )
    return commands


def scons_command(board: str, builddir: Path) -> list[str]:
    return [
        sys.executable,
        "-m",
        "SCons",
        f"board={board}",
        "--cache-disable",
        f"builddir={builddir}",
    ]


def time_scons(top: Path, board: str, builddir: Path) -> float:
    started = time.monotonic()
    done = subprocess.run(scons_command(board, builddir), cwd=top, capture_output=True, text=True)
    if done.returncode != 0:
        tail = "\n".join((done.stdout + done.stderr).splitlines()[-30:])
        raise BuildTimingError(f"scons board={board} builddir={builddir} failed:\n{tail}")
    return time.monotonic() - started


def time_build(
    top: Path, board: str, work: Path, noop_runs: int = 3, keep: bool = False
) -> BuildTiming:
    """Clean SCons build, the same commands by hand, and no-op SCons runs."""
    scons_build, hand_build = work / "scons", work / "hand"
    for d in (scons_build, hand_build):
        if d.exists():
            shutil.rmtree(d)
    try:
        clean = time_scons(top, board, scons_build)
        noop = tuple(time_scons(top, board, scons_build) for _ in range(noop_runs))
        hand = replay_by_hand(scons_build, hand_build)
    finally:
        if not keep:
            for d in (scons_build, hand_build):
                shutil.rmtree(d, ignore_errors=True)
    return BuildTiming(clean, hand, noop)
