"""Benchmarks: warmboot against kdump (downtime, memory, capture) and the
build's cost, on QEMU q35. `warmboot bench run` / `warmboot bench report`;
the method and the numbers are in docs/benchmarks.md."""

from pathlib import Path

# The checkout: the build the benchmark boots, and where its logs and results go.
TOP = Path(__file__).resolve().parents[3]
