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

# Modules that add subcommands; each has register(subparsers).
COMMAND_MODULES = (
    "warmboot.sources.cli",
    "warmboot.handoff.cli",
    "warmboot.handoff.emit_cli",
    "warmboot.vmcore.cli",
    "warmboot.release.cli",
    "warmboot.bench.cli",
)

EXIT_ERROR = 1


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="warmboot",
        description="coreboot + LinuxBoot images with firmware-assisted crash dumps",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            # A concern that has not landed yet adds no subcommand.
            if exc.name and name.startswith(exc.name):
                continue
            raise
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
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
