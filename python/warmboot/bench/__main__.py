"""`python -m warmboot.bench run|report`: the `warmboot bench` subcommands,
usable before warmboot.cli lists this package in COMMAND_MODULES."""
import sys

from warmboot.bench.cli import main

sys.exit(main())
