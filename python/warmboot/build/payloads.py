"""SCons tool: warmboot's static C tools for a board's architecture.

pmtctl runs in the production OS (registers the preserved-memory table);
dumpcap and wbkexec run in LinuxBoot after a warm reset (write the vmcore,
boot the OS again). They are plain static binaries built from payloads/ with
the board's compiler, so they drop into any initramfs. docs/payloads.md
describes them.

The compile command is a pure function (compile_command), which the tests use
too, so what they run is what the image ships.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

from SCons.Action import Action

from warmboot.build.steps import StepError, fresh_log, host_env, run_logged, say, scons_step
from warmboot.toolchain import tool_version

TOOLS = ("pmtctl", "dumpcap", "wbkexec")
COMPILERS = {"x86_64": "gcc", "aarch64": "aarch64-linux-gnu-gcc"}
# Static, small and warning-free; unused helpers are dropped at link time and
# the binaries are stripped (initramfs size). No __DATE__/__FILE__ in the
# sources, and the paths are mapped away, so the output is deterministic.
CFLAGS = ("-static", "-Os", "-Wall", "-Wextra", "-Werror", "-std=gnu11",
          "-ffunction-sections", "-fdata-sections", "-Wl,--gc-sections", "-s")


def compiler_for(arch: str) -> str:
    try:
        return COMPILERS[arch]
    except KeyError:
        raise StepError(f"payloads: no compiler for arch {arch!r}; known: "
                        + ", ".join(COMPILERS)) from None


def tool_sources(top: Path, name: str) -> list[Path]:
    """The C files one tool is built from: its own, the shared ones, the PMT validator."""
    payloads = Path(top) / "payloads"
    if name not in TOOLS:
        raise StepError(f"payloads: unknown tool {name!r}; known: {', '.join(TOOLS)}")
    return sorted([*(payloads / name).glob("*.c"), *(payloads / "common").glob("*.c"),
                   payloads / "libpmt" / "pmt_validate.c"])


def tool_inputs(top: Path) -> list[Path]:
    """Every file any tool's build reads: sources and headers."""
    payloads = Path(top) / "payloads"
    dirs = [payloads / "common", payloads / "libpmt", *(payloads / name for name in TOOLS)]
    return sorted(p for d in dirs for p in d.iterdir() if p.suffix in (".c", ".h"))


def compile_command(compiler: str, top: Path, name: str, output: Path) -> list[str]:
    top = Path(top)
    payloads = top / "payloads"
    return [compiler, *CFLAGS, f"-ffile-prefix-map={top}/=",
            "-I", str(payloads / "libpmt"), "-I", str(payloads / "common"),
            "-o", str(output), *map(str, tool_sources(top, name))]


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
            run_logged("payloads", f"compiling {out.name} with {compiler} (static)",
                       compile_command(compiler, top, out.name, tmp), log, env=host_env())
            os.replace(tmp, out)
        finally:
            tmp.unlink(missing_ok=True)
        say("payloads", f"{out} ({out.stat().st_size} bytes)")
    return 0


def payload_tools(env, board) -> dict:
    """Targets $WB_BUILD/payloads/<tool> for board.arch: {tool name: SCons node}."""
    top = Path(env.subst("$WB_TOP"))
    compiler = compiler_for(board.arch)
    settings = {"compiler": compiler, "version": tool_version([compiler, "--version"]),
                "cflags": CFLAGS, "tools": TOOLS}
    nodes = env.Command(
        [f"$WB_BUILD/payloads/{name}" for name in TOOLS],
        [*map(str, tool_inputs(top)), env.Value(json.dumps(settings, sort_keys=True))],
        Action(_build_tools, "[payloads] building pmtctl, dumpcap, wbkexec for $WB_BOARD"),
        WB_PAYLOAD_CC=compiler,
    )
    return dict(zip(TOOLS, nodes))


def generate(env):
    env.AddMethod(payload_tools, "PayloadTools")


def exists(env):
    return True
