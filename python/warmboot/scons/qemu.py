"""SCons tool: `scons board=<b> run` boots the board's image in QEMU, with the
serial console on the terminal and a copy in build/<board>/logs/."""

from __future__ import annotations

from pathlib import Path

from SCons.Action import Action

from warmboot.qemu import run_interactive
from warmboot.scons.common import tool


def _run(target, source, env):
    board = env["WB_BOARD_OBJ"]
    log = Path(env.subst("$WB_LOGS")) / "run-serial.log"
    return run_interactive(board, Path(str(source[0])), log)


def _cannot_run(target, source, env):
    print(
        f"warmboot: error: board {env['WB_BOARD']} cannot boot in QEMU: no QEMU machine "
        "models it (board.toml has no [qemu])"
    )
    return 2


def qemu_run(env, board, rom):
    if board.qemu is None:
        run = env.Alias("run", rom, Action(_cannot_run, None))
    else:
        run = env.Alias("run", rom, Action(_run, "[qemu] booting $SOURCE"))
    env.AlwaysBuild(run)
    return run


@tool()
def generate(env):
    env.AddMethod(qemu_run, "QemuRun")
