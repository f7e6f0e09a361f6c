"""`warmboot bench run` and `warmboot bench report`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from warmboot.errors import WarmbootError

from .benchmark import TOP, BenchConfig, run_benchmark
from .errors import BenchError
from .report import markdown, write_charts
from .results import BenchResults
from .runs import LOADS, MECHANISMS

DEFAULT_RESULTS = TOP / "docs" / "benchmarks" / "results.json"


def _csv(text: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in text.split(",") if part.strip())


def _runs_at(text: str) -> tuple[tuple[str, int], ...]:
    """`8G=1,16G=1` as ((size, runs), ...)."""
    pairs = []
    for part in _csv(text):
        size, equals, runs = part.partition("=")
        if not equals or not runs.strip().isdigit():
            raise BenchError(f"--runs-at {part!r} is not SIZE=RUNS, like 8G=1")
        pairs.append((size.strip(), int(runs)))
    return tuple(pairs)


def _run(args: argparse.Namespace) -> int:
    config = BenchConfig(
        board=args.board,
        sizes=_csv(args.sizes),
        runs=args.runs,
        runs_at=_runs_at(args.runs_at),
        mechanisms=_csv(args.mechanisms),
        loads=_csv(args.loads),
        filter_runs=args.filter_runs,
        build_runs=args.build_runs,
        noop_runs=args.noop_runs,
        workdir=Path(args.workdir) if args.workdir else None,
    )
    results = run_benchmark(config)
    out = Path(args.out)
    results.save(out)
    print(f"[bench] wrote {out}", flush=True)
    if not args.no_charts:
        for chart in write_charts(results, out.parent):
            print(f"[bench] wrote {chart}", flush=True)
    print(markdown(results))
    return 0


def _report(args: argparse.Namespace) -> int:
    results = BenchResults.load(Path(args.results))
    if not args.no_charts:
        for chart in write_charts(results, Path(args.charts or Path(args.results).parent)):
            print(f"[bench] wrote {chart}", file=sys.stderr, flush=True)
    print(markdown(results))
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    """`warmboot bench run|report` (warmboot.cli's COMMAND_MODULES)."""
    bench = subparsers.add_parser(
        "bench",
        help="benchmark warmboot against kdump, and the build",
        description="warmboot and kdump side by side in the same QEMU q35 guest "
        "(docs/benchmarks.md)",
    )
    add_subcommands(bench.add_subparsers(dest="bench_command", metavar="SUBCOMMAND", required=True))


def add_subcommands(sub: argparse._SubParsersAction) -> None:
    run = sub.add_parser("run", help="boot, crash and time both mechanisms; time the build")
    run.add_argument("--board", default="qemu-q35")
    run.add_argument("--sizes", default="512M,2G,8G", help="guest RAM sizes (default 512M,2G,8G)")
    run.add_argument(
        "--runs", type=int, default=2, help="crashes per mechanism, load and size (default 2)"
    )
    run.add_argument(
        "--runs-at",
        default="",
        help="fewer (or more) runs at some sizes, SIZE=RUNS,... (default: --runs at every size)",
    )
    run.add_argument(
        "--loads",
        default=",".join(LOADS),
        help="idle, loaded (warmboot-load fills about 70%% of RAM first) or both (default)",
    )
    run.add_argument(
        "--mechanisms",
        default=",".join(MECHANISMS),
        help=f"any of {','.join(MECHANISMS)} (default all)",
    )
    run.add_argument(
        "--filter-runs",
        type=int,
        default=1,
        help="runs whose ELF vmcore is also filtered with makedumpfile on the host",
    )
    run.add_argument(
        "--build-runs",
        type=int,
        default=1,
        help="clean builds to time against the same makes by hand (0: none)",
    )
    run.add_argument("--noop-runs", type=int, default=3, help="no-op scons runs per build")
    run.add_argument(
        "--out",
        default=str(DEFAULT_RESULTS),
        help="results file; charts go beside it (default docs/benchmarks/)",
    )
    run.add_argument("--workdir", help="keep disks and builds here (default: a removed temp dir)")
    run.add_argument("--no-charts", action="store_true", help="skip the PNG charts (matplotlib)")
    run.set_defaults(func=_run)

    report = sub.add_parser("report", help="tables (Markdown) and charts from a results file")
    report.add_argument("--results", default=str(DEFAULT_RESULTS))
    report.add_argument("--charts", help="where the PNGs go (default: beside the results)")
    report.add_argument("--no-charts", action="store_true")
    report.set_defaults(func=_report)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m warmboot.bench", description="the same as `warmboot bench`"
    )
    add_subcommands(parser.add_subparsers(dest="command", metavar="COMMAND", required=True))
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except WarmbootError as exc:
        print(f"warmboot: error: {exc}", file=sys.stderr)
        return 1
