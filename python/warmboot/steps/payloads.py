"""warmboot's static C tools (pmtctl, dumpcap, wbkexec): which sources each
is built from and the one compile command, used by the SCons tool and by the
tests alike, so what the tests run is what the image ships."""

from __future__ import annotations

from pathlib import Path

from .run import StepError

TOOLS = ("pmtctl", "dumpcap", "wbkexec")
COMPILERS = {"x86_64": "gcc", "aarch64": "aarch64-linux-gnu-gcc"}
# Static, small and warning-free; unused helpers are dropped at link time and
# the binaries are stripped (initramfs size). No __DATE__/__FILE__ in the
# sources, and the paths are mapped away, so the output is deterministic.
CFLAGS = (
    "-static",
    "-Os",
    "-Wall",
    "-Wextra",
    "-Werror",
    "-std=gnu11",
    "-ffunction-sections",
    "-fdata-sections",
    "-Wl,--gc-sections",
    "-s",
)


def compiler_for(arch: str) -> str:
    try:
        return COMPILERS[arch]
    except KeyError:
        raise StepError(
            f"payloads: no compiler for arch {arch!r}; known: " + ", ".join(COMPILERS)
        ) from None


def tool_sources(top: Path, name: str) -> list[Path]:
    """The C files one tool is built from: its own, the shared ones, the PMT validator."""
    payloads = Path(top) / "payloads"
    if name not in TOOLS:
        raise StepError(f"payloads: unknown tool {name!r}; known: {', '.join(TOOLS)}")
    return sorted(
        [
            *(payloads / name).glob("*.c"),
            *(payloads / "common").glob("*.c"),
            payloads / "libpmt" / "pmt_validate.c",
        ]
    )


def tool_inputs(top: Path) -> list[Path]:
    """Every file any tool's build reads: sources and headers."""
    payloads = Path(top) / "payloads"
    dirs = [payloads / "common", payloads / "libpmt", *(payloads / name for name in TOOLS)]
    return sorted(p for d in dirs for p in d.iterdir() if p.suffix in (".c", ".h"))


def compile_command(compiler: str, top: Path, name: str, output: Path) -> list[str]:
    top = Path(top)
    payloads = top / "payloads"
    return [
        compiler,
        *CFLAGS,
        f"-ffile-prefix-map={top}/=",
        "-I",
        str(payloads / "libpmt"),
        "-I",
        str(payloads / "common"),
        "-o",
        str(output),
        *map(str, tool_sources(top, name)),
    ]
