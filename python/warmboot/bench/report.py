"""`warmboot bench report`: the tables (Markdown) and charts (PNG) of a
results file, the goals of docs/benchmarks.md checked against it, and the
extrapolation of each phase to large machines."""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from pathlib import Path

from .benchmark import ram_mib
from .errors import BenchError
from .kdump_tools import crashkernel_bytes
from .results import (
    BenchResults,
    MechanismSummary,
    find_summary,
    first_summary,
    plain_mem_total_kib,
    summarize,
)
from .runs import CATEGORIES, OS_READY_MILESTONES, SAVED_MILESTONE

LABELS = {
    "warmboot-in-service": "warmboot (in service)",
    "warmboot-linuxboot": "warmboot (LinuxBoot capture)",
    "kdump-cp": "kdump (cp)",
    "kdump-makedumpfile": "kdump (makedumpfile -d 31 -l)",
}
COLORS = {
    "warmboot-in-service": "#e7298a",
    "warmboot-linuxboot": "#d95f02",
    "kdump-cp": "#1b9e77",
    "kdump-makedumpfile": "#7570b3",
}
# The mechanism the goals compare, and what it is compared with.
MAIN = "warmboot-in-service"
BASELINE = "kdump-makedumpfile"
CATEGORY_COLORS = dict(
    zip(
        CATEGORIES,
        ("#e41a1c", "#377eb8", "#984ea3", "#ffff33", "#ff7f00", "#4daf4a", "#a65628"),
        strict=True,
    )
)
KDUMPS = ("kdump-cp", "kdump-makedumpfile")
WARMBOOTS = ("warmboot-in-service", "warmboot-linuxboot")

# The goals (docs/benchmarks.md, "Goals").
GOAL_RATIO = 0.5  # MAIN's downtime / BASELINE's, at GOAL_RATIO_SIZES, every load
GOAL_RATIO_SIZES = ("2G", "8G")
# The in-service flow's own goals (docs/crashdump.md): at this size, MAIN's dump
# is saved no later than BASELINE's and its file is no larger.
GOAL_SAVE_SIZE = "2G"
GOAL_FLAT = 0.20  # warmboot's downtime from 2 GiB up varies at most this much
GOAL_FLAT_FROM_MIB = 2048
GOAL_MEMORY_MIB = 2.0  # MemTotal lost to the mechanism, at every size
# Machines the extrapolation speaks of, GiB.
EXTRAPOLATE_GIB = (256, 2048)
# A phase scales with memory when its fitted growth across the measured sizes
# exceeds both this many seconds and this share of its mean; otherwise it is
# taken as constant (its mean), so that noise does not extrapolate.
SCALES_MIN_SECONDS = 0.25
SCALES_MIN_SHARE = 0.20


def _mb(n: int | None) -> str:
    return "—" if n is None else f"{n / 1e6:,.1f}"


def _mib_kib(kib: int) -> str:
    return f"{kib / 1024:,.1f}"


def _ratio(
    a: MechanismSummary | None, b: MechanismSummary | None, attr: str = "downtime_seconds"
) -> str:
    return f"{getattr(a, attr) / getattr(b, attr):.2f}" if a and b else "—"


def _gib(ram: str) -> float:
    return ram_mib(ram) / 1024


# -- fits and goals: pure functions of the summaries ---------------------------


@dataclass(frozen=True)
class PhaseFit:
    """seconds ≈ intercept + per_gib × GiB, over the measured sizes."""

    phase: str
    intercept: float
    per_gib: float
    scales: bool  # False: taken as constant (intercept is its mean, per_gib 0)

    def at(self, gib: float) -> float:
        return self.intercept + self.per_gib * gib


def fit_line(points: list[tuple[float, float]]) -> tuple[float, float]:
    """Least squares (intercept, slope) of (x, y) points; a flat line through
    the mean when every x is the same."""
    xs, ys = [x for x, _ in points], [y for _, y in points]
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    sxx = sum((x - mx) ** 2 for x in xs)
    if sxx == 0:
        return my, 0.0
    slope = sum((x - mx) * (y - my) for x, y in points) / sxx
    return my - slope * mx, slope


def fit_phase(phase: str, points: list[tuple[float, float]]) -> PhaseFit:
    intercept, slope = fit_line(points)
    xs = [x for x, _ in points]
    mean = statistics.fmean(y for _, y in points)
    growth = slope * (max(xs) - min(xs))
    if growth > SCALES_MIN_SECONDS and growth > SCALES_MIN_SHARE * mean:
        return PhaseFit(phase, intercept, slope, True)
    return PhaseFit(phase, mean, 0.0, False)


def fit_phases(
    summaries: list[MechanismSummary], mechanism: str, load: str, sizes: tuple[str, ...]
) -> list[PhaseFit]:
    """One fit per phase of mechanism (the runs under load), over sizes."""
    found = [(ram, x) for ram in sizes if (x := find_summary(summaries, mechanism, ram, load))]
    if len(found) < 2:
        return []
    first = found[0][1]
    return [
        fit_phase(phase, [(_gib(ram), x.phases[i][2]) for ram, x in found])
        for i, (phase, _category, _seconds) in enumerate(first.phases)
    ]


def fitted_total(fits: list[PhaseFit], until: str, gib: float) -> float:
    """Panic to the end of phase `until`, from the fits."""
    total = 0.0
    for f in fits:
        total += f.at(gib)
        if f.phase == until:
            return total
    raise BenchError(f"no phase {until!r} in the fits")


def ready_phase(fits: list[PhaseFit]) -> str:
    (name,) = [f.phase for f in fits if f.phase in OS_READY_MILESTONES]
    return name


@dataclass(frozen=True)
class Goal:
    what: str
    measured: str
    met: bool


def headline_load(results: BenchResults) -> str:
    """The load the goals and the extrapolation speak of: loaded, if measured."""
    loads = results.settings.loads
    return "loaded" if "loaded" in loads else loads[0]


def goals(results: BenchResults, summaries: list[MechanismSummary] | None = None) -> list[Goal]:
    """docs/benchmarks.md's goals, checked against the record (and its
    summaries, when the caller has them already)."""
    summaries = summarize(results) if summaries is None else summaries
    s = results.settings
    load = headline_load(results)
    out = []
    # The headline load first; the others are checked too, not hidden.
    loads = [load, *(x for x in s.loads if x != load)]
    for each in loads:
        for ram in GOAL_RATIO_SIZES:
            wb, kd = (find_summary(summaries, m, ram, each) for m in (MAIN, BASELINE))
            if wb and kd:
                ratio = wb.downtime_seconds / kd.downtime_seconds
                out.append(
                    Goal(
                        f"panic → in service at {ram} {each}: {LABELS[MAIN]} ≤ {GOAL_RATIO}× "
                        f"{LABELS[BASELINE]}",
                        f"{wb.downtime_seconds:.2f} s ÷ {kd.downtime_seconds:.2f} s = {ratio:.2f}",
                        ratio <= GOAL_RATIO,
                    )
                )
    for each in loads:
        wb, kd = (find_summary(summaries, m, GOAL_SAVE_SIZE, each) for m in (MAIN, BASELINE))
        if wb and kd:
            out.append(
                Goal(
                    f"panic → dump saved at {GOAL_SAVE_SIZE} {each}: {LABELS[MAIN]} no later "
                    f"than {LABELS[BASELINE]}",
                    f"{wb.saved_seconds:.2f} s against {kd.saved_seconds:.2f} s",
                    wb.saved_seconds <= kd.saved_seconds,
                )
            )
            out.append(
                Goal(
                    f"dump file at {GOAL_SAVE_SIZE} {each}: {LABELS[MAIN]} no larger than "
                    f"{LABELS[BASELINE]}",
                    f"{_mb(wb.vmcore_bytes)} MB against {_mb(kd.vmcore_bytes)} MB",
                    wb.vmcore_bytes <= kd.vmcore_bytes,
                )
            )
    big = [ram for ram in s.sizes if ram_mib(ram) >= GOAL_FLAT_FROM_MIB]
    for m in WARMBOOTS:
        for each in s.loads:
            times = [
                (ram, x.downtime_seconds)
                for ram in big
                if (x := find_summary(summaries, m, ram, each))
            ]
            if len(times) < 2:
                continue
            # A spread, not a growth: the slowest size against the fastest.
            low, high = min(t for _, t in times), max(t for _, t in times)
            spread = high / low - 1
            out.append(
                Goal(
                    f"{LABELS[m]}, {each}: panic → in service flat within "
                    f"{GOAL_FLAT:.0%} from {big[0]} to {big[-1]}",
                    ", ".join(f"{ram} {t:.2f} s" for ram, t in times) + f": {spread:.0%} apart",
                    spread <= GOAL_FLAT,
                )
            )
    for ram in s.sizes:
        plain = plain_mem_total_kib(results, ram)
        x = first_summary(summaries, MAIN, ram, s.loads)
        if plain is not None and x:
            lost = (plain - x.mem_total_kib) / 1024
            out.append(
                Goal(
                    f"memory the OS loses to warmboot at {ram} ≤ {GOAL_MEMORY_MIB:g} MiB",
                    f"{lost:.1f} MiB",
                    lost <= GOAL_MEMORY_MIB,
                )
            )
    return out


# -- Markdown ---------------------------------------------------------------------


def _accel_text(accel: str) -> str:
    """QEMU's -accel value as the report names it: 'TCG (tb-size=32)'."""
    name, _, options = accel.partition(",")
    return name.upper() + (f" ({options})" if options else "")


def markdown(results: BenchResults) -> str:
    """Every table docs/benchmarks.md shows."""
    summaries = summarize(results)
    s = results.settings
    runs = ", ".join(f"{ram}: {s.runs_for(ram)}" for ram in s.sizes)
    out = [
        f"Runs per mechanism, load and size: {runs} (medians; min–max in brackets), "
        f"{results.host.qemu}, {_accel_text(results.host.accel)}, -smp {results.host.smp}, "
        f"host {results.host.cpus} CPUs; kdump's crashkernel={s.kdump_crashkernel}; "
        f"recorded {results.created}.",
        "",
    ]
    kdumps = [k for k in KDUMPS if k in s.mechanisms]
    main = MAIN if MAIN in s.mechanisms else s.mechanisms[0]
    for load in s.loads:
        for title, attr, lo, hi in (
            ("Panic to the OS in service", "downtime_seconds", "downtime_min", "downtime_max"),
            ("Panic to the dump saved", "saved_seconds", "saved_min", "saved_max"),
        ):
            out += [
                f"### {title}, {load} guest",
                "",
                "| guest RAM | "
                + " | ".join(LABELS[m] for m in s.mechanisms)
                + "".join(f" | {LABELS[main]} ÷ {LABELS[k]}" for k in kdumps)
                + " |",
                "|---" * (1 + len(s.mechanisms) + len(kdumps)) + "|",
            ]
            for ram in s.sizes:
                cells = []
                for m in s.mechanisms:
                    x = find_summary(summaries, m, ram, load)
                    spread = (
                        f" ({getattr(x, lo):.2f}–{getattr(x, hi):.2f})" if x and x.runs > 1 else ""
                    )
                    cells.append(f"{getattr(x, attr):.2f} s{spread}" if x else "—")
                wb = find_summary(summaries, main, ram, load)
                ratios = [_ratio(wb, find_summary(summaries, k, ram, load), attr) for k in kdumps]
                out.append(f"| {ram} | " + " | ".join(cells + ratios) + " |")
            out.append("")

    out += _memory_table(results, summaries, main)
    if "loaded" in s.loads:
        out += _workload_table(results)
    out += _capture_table(results, summaries)
    out += ["### Goals", "", "| goal | measured | met |", "|---|---|---|"]
    out += [
        f"| {g.what} | {g.measured} | {'yes' if g.met else '**no**'} |"
        for g in goals(results, summaries)
    ]
    out += [""]
    out += _extrapolation(results, summaries)
    out += _phase_tables(results, summaries)
    if results.build:
        clean = statistics.median(b.scons_clean_seconds for b in results.build)
        hand = statistics.median(b.hand_seconds for b in results.build)
        noop = statistics.median(t for b in results.build for t in b.noop_seconds)
        by_tool: dict[str, list[float]] = {}
        for b in results.build:
            for c in b.hand_commands:
                tool = "coreboot" if "coreboot" in c.command else "linux"
                by_tool.setdefault(tool, []).append(c.seconds)
        split = ", ".join(
            f"{tool} {sum(v) / len(results.build):.0f} s" for tool, v in sorted(by_tool.items())
        )
        out += [
            "### Build",
            "",
            f"| clean `scons board={s.board}` | the same commands by hand | overhead "
            "| no-op `scons` |",
            "|---|---|---|---|",
            f"| {clean:.0f} s | {hand:.0f} s ({split}) | {clean / hand:.2f}× | {noop:.2f} s |",
            "",
        ]
    return "\n".join(out)


def _memory_table(results: BenchResults, summaries: list[MechanismSummary], main: str) -> list[str]:
    s = results.settings
    out = [
        "### Memory the OS cannot use in normal operation",
        "",
        "MiB; MemTotal of a boot with no crash mechanism minus MemTotal under each "
        "mechanism, read before any load. CMA pages count in MemTotal (the OS uses "
        "them for movable pages), so warmboot's `cma=` costs nothing here; CmaTotal "
        f"is shown beside it. kdump: `crashkernel={s.kdump_crashkernel}`, as Debian's "
        "kdump-tools sets it.",
        "",
        "| guest RAM | no mechanism: MemTotal | mechanism | crashkernel= reserved | MemTotal "
        "| CmaTotal | unavailable |",
        "|---|---|---|---|---|---|---|",
    ]
    for ram in s.sizes:
        plain = plain_mem_total_kib(results, ram)
        for m in (main, "kdump-cp"):
            x = first_summary(summaries, m, ram, s.loads)
            if not x or plain is None:
                continue
            name = "warmboot" if m.startswith("warmboot") else "kdump"
            out.append(
                f"| {ram} | {_mib_kib(plain)} | {name} | "
                f"{x.crash_kernel_bytes / 2**20:g} MiB | {_mib_kib(x.mem_total_kib)} | "
                f"{_mib_kib(x.cma_total_kib)} | **{_mib_kib(plain - x.mem_total_kib)}** |"
            )
    return [*out, ""]


def _workload_table(results: BenchResults) -> list[str]:
    s = results.settings
    out = [
        "### The loaded guest's memory before the crash",
        "",
        "/proc/meminfo once `warmboot-load` is done, just before the crash (the first "
        "run of each mechanism; MiB).",
        "",
        "| guest RAM | mechanism | MemTotal | in use | anonymous | page cache | slab | dirty "
        "| load took |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for ram in s.sizes:
        for m in s.mechanisms:
            run = next(
                (
                    r
                    for r in results.crash_runs
                    if r.ram == ram and r.mechanism == m and r.load == "loaded" and r.workload
                ),
                None,
            )
            if run and run.workload:
                w = run.workload
                out.append(
                    f"| {ram} | {LABELS[m]} | {_mib_kib(w.mem_total_kib)} | "
                    f"{w.used_share:.0%} | {_mib_kib(w.anon_kib)} | {_mib_kib(w.cached_kib)} | "
                    f"{_mib_kib(w.slab_kib)} | {_mib_kib(w.dirty_kib)} | {w.seconds:.0f} s |"
                )
    return [*out, ""]


def _capture_table(results: BenchResults, summaries: list[MechanismSummary]) -> list[str]:
    s = results.settings
    out = [
        "### Capture",
        "",
        "Crashed memory read per second of writing the dump to the OS's virtio disk "
        "(host-side, from the capture's start line to its saved line, sync included). "
        "On the disk: the blocks the file takes (dumpcap leaves zero pages as holes). "
        "Filtered: `makedumpfile -d 31 -l` of the ELF vmcore on the host.",
        "",
        "| guest RAM | load | mechanism | memory read, MB | write, s | MB/s | vmcore, MB "
        "| on the disk, MB | format | filtered -d 31 -l, MB |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for ram in s.sizes:
        for load in s.loads:
            for m in s.mechanisms:
                x = find_summary(summaries, m, ram, load)
                if x:
                    saved = x.filtered_bytes if x.vmcore_format == "elf" else x.vmcore_bytes
                    out.append(
                        f"| {ram} | {load} | {LABELS[m]} | {_mb(x.memory_bytes)} | "
                        f"{x.capture_seconds:.2f} | {x.throughput_mb_s:.0f} | "
                        f"{_mb(x.vmcore_bytes)} | {_mb(x.vmcore_disk_bytes)} | "
                        f"{x.vmcore_format} | {_mb(saved)} |"
                    )
    return [*out, ""]


def _extrapolation(results: BenchResults, summaries: list[MechanismSummary]) -> list[str]:
    s = results.settings
    load = headline_load(results)
    fits = {m: fit_phases(summaries, m, load, s.sizes) for m in s.mechanisms}
    fits = {m: f for m, f in fits.items() if f}
    if not fits:
        return []
    machines = " | ".join(f"{gib:,} GiB" for gib in EXTRAPOLATE_GIB)
    out = [
        f"### Extrapolated to large machines ({load} guests)",
        "",
        "Each phase fitted as seconds = a + b × GiB over the measured sizes (least "
        f"squares); a phase whose fitted growth across them is under "
        f"{SCALES_MIN_SECONDS} s or {SCALES_MIN_SHARE:.0%} of its mean counts as constant "
        "(its mean). Reserved: what the OS gives up in normal operation (kdump: "
        f"`crashkernel={s.kdump_crashkernel}` evaluated for that RAM).",
        "",
        f"| mechanism | | {machines} |",
        "|---|---|" + "---|" * len(EXTRAPOLATE_GIB),
    ]
    for m, f in fits.items():
        ready = [fitted_total(f, ready_phase(f), gib) for gib in EXTRAPOLATE_GIB]
        saved = [fitted_total(f, SAVED_MILESTONE[m], gib) for gib in EXTRAPOLATE_GIB]
        reserved = [
            crashkernel_bytes(s.kdump_crashkernel, gib << 30) / 2**20
            if m.startswith("kdump-")
            else 0.0
            for gib in EXTRAPOLATE_GIB
        ]
        out += [
            f"| {LABELS[m]} | panic → in service | " + " | ".join(map(_dur, ready)) + " |",
            "| | panic → dump saved | " + " | ".join(map(_dur, saved)) + " |",
            "| | reserved | " + " | ".join(f"{r:g} MiB" for r in reserved) + " |",
        ]
    out += [
        "",
        "The phases that scale with memory (seconds per GiB; all others constant):",
        "",
        "| mechanism | phase | a, s | b, s/GiB |",
        "|---|---|---|---|",
    ]
    for m, f in fits.items():
        for p in f:
            if p.scales:
                out.append(f"| {LABELS[m]} | {p.phase} | {p.intercept:.2f} | {p.per_gib:.3f} |")
    return [*out, ""]


def _dur(seconds: float) -> str:
    if seconds >= 3600:
        return f"{seconds / 3600:.1f} h"
    if seconds >= 120:
        return f"{seconds / 60:.0f} min"
    return f"{seconds:.0f} s"


def _phase_tables(results: BenchResults, summaries: list[MechanismSummary]) -> list[str]:
    s = results.settings
    columns = [(ram, load) for ram in s.sizes for load in s.loads]
    out = ["### Where the time goes", ""]
    for m in s.mechanisms:
        found = [find_summary(summaries, m, ram, load) for ram, load in columns]
        first = next((x for x in found if x), None)
        if not first:
            continue
        out += [
            f"{LABELS[m]}, seconds (median per phase; each phase ends at the console "
            "line that starts the next):",
            "",
            "| phase | " + " | ".join(f"{ram} {load}" for ram, load in columns) + " |",
            "|---" * (1 + len(columns)) + "|",
        ]
        for i, (phase, _category, _seconds) in enumerate(first.phases):
            out.append(
                f"| {phase} | "
                + " | ".join(f"{x.phases[i][2]:.2f}" if x else "—" for x in found)
                + " |"
            )
        out.append(
            "| **panic to OS ready (in service)** | "
            + " | ".join(f"**{x.downtime_seconds:.2f}**" if x else "—" for x in found)
            + " |"
        )
        out.append(
            "| **panic to the dump saved** | "
            + " | ".join(f"**{x.saved_seconds:.2f}**" if x else "—" for x in found)
            + " |"
        )
        out.append("")
    return out


# -- charts -------------------------------------------------------------------------


def write_charts(results: BenchResults, directory: Path) -> list[Path]:
    """Each measure against guest RAM (one line per mechanism; solid loaded,
    dashed idle), and where the time goes."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise BenchError("charts need matplotlib: pip install -e '.[bench]'") from None
    directory.mkdir(parents=True, exist_ok=True)
    summaries = summarize(results)
    s = results.settings
    written = []
    styles = {"loaded": "-", "idle": "--"}

    def save(fig, name: str) -> None:
        fig.tight_layout()
        path = directory / name
        # Fixed metadata: a re-run with the same numbers gives the same file.
        fig.savefig(path, dpi=110, metadata={"Software": None})
        plt.close(fig)
        written.append(path)

    def against_ram(ax, value, mechanisms, unit: str, title: str, log_y: bool = False) -> None:
        for m in mechanisms:
            for load in s.loads:
                points = [
                    (_gib(ram), y)
                    for ram in s.sizes
                    if (x := find_summary(summaries, m, ram, load))
                    and (y := value(x, ram)) is not None
                ]
                if points:
                    ax.plot(
                        [p[0] for p in points],
                        [p[1] for p in points],
                        styles.get(load, ":"),
                        marker="o",
                        color=COLORS[m],
                        label=f"{LABELS[m]}, {load}",
                    )
        ax.set_xscale("log", base=2)
        ax.set_xticks([_gib(ram) for ram in s.sizes], [ram for ram in s.sizes])
        ax.set_xlabel("guest RAM")
        ax.set_ylabel(unit)
        ax.set_title(title)
        if log_y:
            ax.set_yscale("log")
        ax.legend(fontsize=7)

    for name, value, unit, title, log_y in (
        (
            "downtime.png",
            lambda x, ram: x.downtime_seconds,
            "s (median)",
            "Panic to the OS in service",
            False,
        ),
        (
            "saved.png",
            lambda x, ram: x.saved_seconds,
            "s (median)",
            "Panic to the dump saved",
            False,
        ),
        (
            "dump-size.png",
            lambda x, ram: (x.vmcore_disk_bytes or x.vmcore_bytes) / 1e6,
            "MB on the OS disk",
            "Size of the dump",
            True,
        ),
    ):
        fig, ax = plt.subplots(figsize=(7, 4.2))
        against_ram(ax, value, s.mechanisms, unit, title, log_y)
        save(fig, name)

    fig, ax = plt.subplots(figsize=(6, 3.8))
    setups = [m for m in (MAIN, "kdump-cp") if m in s.mechanisms]

    def unavailable(x: MechanismSummary, ram: str) -> float | None:
        plain = plain_mem_total_kib(results, ram)
        return None if plain is None else (plain - x.mem_total_kib) / 1024

    against_ram(
        ax, unavailable, setups, "MiB not in MemTotal", "Memory the OS gives up in normal operation"
    )
    save(fig, "memory.png")

    # Phases, stacked by category.
    rows = [
        (ram, load, m, x)
        for ram in s.sizes
        for load in s.loads
        for m in s.mechanisms
        if (x := find_summary(summaries, m, ram, load))
    ]
    fig, ax = plt.subplots(figsize=(9, 1 + 0.32 * len(rows)))
    seen = set()
    for y, (_ram, _load, _m, x) in enumerate(rows):
        left = 0.0
        for _phase, category, seconds in x.phases:
            ax.barh(
                y,
                seconds,
                left=left,
                color=CATEGORY_COLORS[category],
                edgecolor="white",
                label=category if category not in seen else None,
            )
            seen.add(category)
            left += seconds
    ax.set_yticks(
        range(len(rows)), [f"{LABELS[m]}, {ram} {load}" for ram, load, m, _ in rows], fontsize=7
    )
    ax.invert_yaxis()
    ax.set_xlabel("seconds after the panic (median per phase)")
    ax.set_title("Where the time goes")
    ax.legend(fontsize=7, ncol=3, loc="lower right")
    save(fig, "phases.png")
    return written
