"""SCons tool: warmboot's static C tools for a board's architecture.

pmtctl runs in the production OS (registers the preserved-memory table);
dumpcap and wbkexec run in LinuxBoot after a warm reset (write the vmcore,
boot the OS again). They are plain static binaries built from payloads/ with
the board's compiler, so they drop into any initramfs. docs/payloads.md
describes them.

The compile command is warmboot.steps.payloads.compile_command, which the
tests use too, so what they run is what the image ships.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from SCons.Action import Action

from warmboot.scons.common import scons_step, tool
from warmboot.steps.payloads import CFLAGS, TOOLS, compile_command, compiler_for, tool_inputs
from warmboot.steps.run import fresh_log, host_env, run_logged, say
from warmboot.toolchain import tool_version


@scons_step
def _build_tools(target, source, env):
    top = Path(env.subst("$WB_TOP"))
    compiler = env["WB_PAYLOAD_CC"]
    log = fresh_log(Path(env.subst("$WB_LOGS")) / "payloads.log")
    for node in target:
        out = Path(str(node))
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = out.with_name(f".{out.name}.tmp")
        try:
            run_logged(
                "payloads",
                f"compiling {out.name} with {compiler} (static)",
                compile_command(compiler, top, out.name, tmp),
                log,
                env=host_env(),
            )
            os.replace(tmp, out)
        finally:
            tmp.unlink(missing_ok=True)
        say("payloads", f"{out} ({out.stat().st_size} bytes)")
    return 0


def payload_tools(env, board) -> dict:
    """Targets $WB_BUILD/payloads/<tool> for board.arch: {tool name: SCons node}."""
    top = Path(env.subst("$WB_TOP"))
    compiler = compiler_for(board.arch)
    settings = {
        "compiler": compiler,
        "version": tool_version([compiler, "--version"]),
        "cflags": CFLAGS,
        "tools": TOOLS,
    }
    nodes = env.Command(
        [f"$WB_BUILD/payloads/{name}" for name in TOOLS],
        [*map(str, tool_inputs(top)), env.Value(json.dumps(settings, sort_keys=True))],
        Action(_build_tools, "[payloads] building pmtctl, dumpcap, wbkexec for $WB_BOARD"),
        WB_PAYLOAD_CC=compiler,
    )
    return dict(zip(TOOLS, nodes, strict=True))


@tool()
def generate(env):
    env.AddMethod(payload_tools, "PayloadTools")
