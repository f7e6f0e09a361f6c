"""The `warmboot` command: one argparse front end, one subcommand per concern.

Each concern lives in its own module, which exposes register(subparsers);
the module's handlers raise WarmbootError subclasses for bad input, which
become a one-line message and a non-zero exit status here.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from .errors import WarmbootError

# The subcommands, and the module that adds each through register(subparsers).
# A run imports only its command's module (the others cost about half a second
# together); --help, no command or an unknown one imports them all.
# tests/cli/test_command_table.py checks this table against what each registers.
COMMAND_MODULES: dict[str, str] = {
    "sources": "warmboot.sources.cli",
    "pmt": "warmboot.handoff.cli",
    "handoff": "warmboot.handoff.emit_cli",
    "vmcore": "warmboot.vmcore.cli",
    "keys": "warmboot.release.cli",
    "root": "warmboot.release.cli",
    "release": "warmboot.release.cli",
    "verify": "warmboot.release.cli",
    "bench": "warmboot.bench.cli",
}

EXIT_ERROR = 1


def modules_for(argv: list[str]) -> list[str]:
    """The command modules a parse of argv needs: the command's when argv starts
    with one, else all (the top-level parser's only option is --help)."""
    if argv and argv[0] in COMMAND_MODULES:
        return [COMMAND_MODULES[argv[0]]]
    return list(dict.fromkeys(COMMAND_MODULES.values()))


def build_parser(argv: list[str] | None = None) -> argparse.ArgumentParser:
    """The parser for argv's command (every command when argv is None)."""
    parser = argparse.ArgumentParser(
        prog="warmboot",
        description="coreboot + LinuxBoot images with firmware-assisted crash dumps",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in modules_for(argv or []):
        importlib.import_module(name).register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = build_parser(argv).parse_args(argv)
    try:
        result = args.func(args)
    except WarmbootError as exc:
        print(f"warmboot: error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except BrokenPipeError:
        return EXIT_ERROR
    return int(result or 0)


if __name__ == "__main__":
    sys.exit(main())
