"""`warmboot bench run`: warmboot and kdump side by side, in the same QEMU
machine with the same kernels, at several guest RAM sizes.

Order matters on a shared host: each round boots every mechanism once at
every size, and the mechanisms' order rotates from round to round, so a
slow spell of the host hits all of them rather than one.
"""

from __future__ import annotations

import datetime
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from warmboot import toolchain
from warmboot.boards import load_board
from warmboot.qemu import accel_args, choose_accel

from . import TOP
from .buildtime import BuildTiming, time_build
from .errors import BenchError
from .images import SETUPS, prepare_images, setup_cmdline
from .kdump_tools import debian_crashkernel
from .results import SCHEMA, BenchResults, BenchSettings, HostInfo, runs_at_size
from .runs import LOADS, MECHANISMS, CrashRun, PlainBoot, crash_run, plain_boot

# Host tools beyond the build's: images, kdump's userspace, reading the disk.
REQUIREMENTS = (
    toolchain.Requirement("kexec", "kexec-tools", purpose="kdump's kexec -p in the guest"),
    toolchain.Requirement("makedumpfile", "makedumpfile"),
    toolchain.Requirement("ldd", "libc-bin", purpose="kexec-tools' and makedumpfile's libraries"),
    toolchain.Requirement("mke2fs", "e2fsprogs"),
    toolchain.Requirement("debugfs", "e2fsprogs"),
    toolchain.Requirement("lz4", "lz4"),
)

Progress = Callable[[str], None]


def _say(message: str) -> None:
    print(f"[bench] {message}", flush=True)


@dataclass(frozen=True)
class BenchConfig:
    board: str = "qemu-q35"
    sizes: tuple[str, ...] = ("512M", "2G", "8G")
    runs: int = 2
    # Fewer runs at some sizes (size, runs): 8 GiB takes longest.
    runs_at: tuple[tuple[str, int], ...] = (("8G", 1),)
    mechanisms: tuple[str, ...] = MECHANISMS
    loads: tuple[str, ...] = LOADS
    # Runs per size and mechanism whose ELF vmcore is also filtered on the
    # host with makedumpfile (its size does not vary between runs).
    filter_runs: int = 1
    build_runs: int = 1  # clean builds timed; 0 skips the build benchmark
    noop_runs: int = 3
    workdir: Path | None = None  # default: a temporary directory, removed afterwards
    logs: Path = field(default_factory=lambda: TOP / "build" / "bench" / "logs")

    def runs_for(self, size: str) -> int:
        return runs_at_size(self.runs, self.runs_at, size)


def ram_mib(size: str) -> int:
    """QEMU's -m syntax (512M, 2G, plain MiB) in MiB."""
    units = {"M": 1, "G": 1024, "T": 1024 * 1024}
    text = size.strip().upper().removesuffix("B")
    try:
        if text[-1] in units:
            return int(float(text[:-1]) * units[text[-1]])
        return int(text)
    except (ValueError, IndexError):
        raise BenchError(f"guest RAM size {size!r} is not like 512M or 2G") from None


def build_test_os(board: str) -> None:
    """`scons board=BOARD .`: the ROM and the test OS the benchmark boots (seconds if current)."""
    done = subprocess.run(
        [sys.executable, "-m", "SCons", f"board={board}", "."],
        cwd=TOP,
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        tail = "\n".join((done.stdout + done.stderr).splitlines()[-30:])
        raise BenchError(f"scons board={board} . failed:\n{tail}")


def host_info(board_name: str) -> HostInfo:
    board = load_board(TOP, board_name)
    if board.qemu is None:
        raise BenchError(f"board {board_name} has no QEMU machine to benchmark on")
    qemu = subprocess.run([board.qemu.system, "--version"], capture_output=True, text=True)
    return HostInfo(
        qemu=qemu.stdout.splitlines()[0] if qemu.stdout else "unknown",
        accel=accel_args(choose_accel(board))[1],
        cpus=os.cpu_count() or 1,
        kernel=os.uname().release,
        smp=board.qemu.smp,
    )


def run_benchmark(config: BenchConfig, say: Progress = _say) -> BenchResults:
    unknown = set(config.mechanisms) - set(MECHANISMS)
    if unknown or not config.mechanisms:
        raise BenchError(
            f"unknown mechanism(s) {', '.join(sorted(unknown)) or '(none)'}; "
            f"known: {', '.join(MECHANISMS)}"
        )
    if config.runs < 1 or not config.sizes:
        raise BenchError("need at least one run and one RAM size")
    if not config.loads or set(config.loads) - set(LOADS):
        raise BenchError(f"loads must be some of {', '.join(LOADS)}, not {config.loads}")
    if any(runs < 1 for _, runs in config.runs_at):
        raise BenchError("every size needs at least one run")
    try:
        toolchain.check(REQUIREMENTS)
    except toolchain.ToolchainError as exc:
        raise BenchError(str(exc)) from None
    board = load_board(TOP, config.board)
    sizes_mib = [ram_mib(s) for s in config.sizes]
    say(f"building the ROM and the test OS (scons board={config.board} .)")
    build_test_os(config.board)
    crashkernel = debian_crashkernel(TOP)
    say(f"kdump reserves crashkernel={crashkernel}, as Debian's kdump-tools sets it")
    work = config.workdir or Path(tempfile.mkdtemp(prefix="warmboot-bench-"))
    config.logs.mkdir(parents=True, exist_ok=True)
    try:
        images = prepare_images(
            TOP,
            board,
            work / "images",
            max(sizes_mib),
            crashkernel,
            tuple(s for s in SETUPS if s == "plain" or s in config.mechanisms),
            loaded="loaded" in config.loads,
        )
        plain: list[PlainBoot] = []
        for ram in config.sizes:
            say(f"plain boot at {ram} (the memory baseline)")
            plain.append(plain_boot(board, images, ram, 1, work, config.logs))
        crashes: list[CrashRun] = []
        rounds = max(config.runs_for(ram) for ram in config.sizes)
        for run in range(1, rounds + 1):
            for ram in config.sizes:
                if run > config.runs_for(ram):
                    continue
                for load in config.loads:
                    for mechanism in _rotated(config.mechanisms, run - 1):
                        say(f"round {run}/{rounds}: {mechanism} at {ram}, {load}")
                        done = crash_run(
                            board,
                            images,
                            mechanism,
                            ram,
                            run,
                            work,
                            config.logs,
                            filter_on_host=run <= config.filter_runs,
                            load=load,
                        )
                        _report_run(done, say)
                        crashes.append(done)
        builds: list[BuildTiming] = []
        for run in range(1, config.build_runs + 1):
            say(f"build {run}/{config.build_runs}: clean scons, then the same makes by hand")
            timing = time_build(TOP, config.board, work / "build", config.noop_runs)
            say(
                f"  scons {timing.scons_clean_seconds:.0f} s, by hand "
                f"{timing.hand_seconds:.0f} s, no-op {min(timing.noop_seconds):.2f} s"
            )
            builds.append(timing)
    finally:
        if config.workdir is None:
            shutil.rmtree(work, ignore_errors=True)
    assert board.testos is not None  # prepare_images refused a board without one
    stock = board.testos.kernel.cmdline
    settings = BenchSettings(
        board=config.board,
        sizes=tuple(config.sizes),
        runs=config.runs,
        mechanisms=tuple(config.mechanisms),
        kdump_crashkernel=crashkernel,
        warmboot_cmdline=stock,
        kdump_cmdline=setup_cmdline(stock, "kdump-cp", crashkernel),
        capture_cmdline=(TOP / "linuxboot" / "kdump" / "cmdline").read_text().strip(),
        loads=tuple(config.loads),
        runs_at=tuple((ram, config.runs_for(ram)) for ram in config.sizes),
    )
    return BenchResults(
        schema=SCHEMA,
        created=datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        host=host_info(config.board),
        settings=settings,
        plain_boots=tuple(plain),
        crash_runs=tuple(crashes),
        build=tuple(builds),
    )


def _report_run(done: CrashRun, say: Progress) -> None:
    if done.workload:
        w = done.workload
        say(
            f"  loaded in {w.seconds:.0f} s: {w.used_share:.0%} of MemTotal in use "
            f"(anon {w.anon_kib >> 10} MiB, cache {w.cached_kib >> 10} MiB, "
            f"slab {w.slab_kib >> 10} MiB, dirty {w.dirty_kib >> 10} MiB)"
        )
    on_disk = (done.vmcore.disk_bytes or 0) / 1e6
    say(
        f"  panic to OS ready {done.downtime_seconds:.2f} s, dump saved "
        f"{done.saved_seconds:.2f} s; vmcore {done.vmcore.bytes / 1e6:.1f} MB "
        f"({on_disk:.1f} MB on the disk) in {done.vmcore.capture_seconds:.2f} s"
    )


def _rotated(items: tuple[str, ...], by: int) -> tuple[str, ...]:
    by %= len(items)
    return items[by:] + items[:by]
