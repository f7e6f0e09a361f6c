"""`warmboot bench report`: the tables (Markdown) and charts (PNG) of a results file."""

from __future__ import annotations

import statistics
from pathlib import Path

from .errors import BenchError
from .results import BenchResults, MechanismSummary, find_summary, plain_mem_total_kib, summarize
from .runs import CATEGORIES

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
CATEGORY_COLORS = dict(
    zip(
        CATEGORIES,
        ("#e41a1c", "#377eb8", "#984ea3", "#ffff33", "#ff7f00", "#4daf4a", "#a65628"),
        strict=True,
    )
)
KDUMPS = ("kdump-cp", "kdump-makedumpfile")


def _mb(n: int | None) -> str:
    return "—" if n is None else f"{n / 1e6:,.1f}"


def _mib_kib(kib: int) -> str:
    return f"{kib / 1024:,.1f}"


def _ratio(
    a: MechanismSummary | None, b: MechanismSummary | None, attr: str = "downtime_seconds"
) -> str:
    return f"{getattr(a, attr) / getattr(b, attr):.2f}" if a and b else "—"


def markdown(results: BenchResults) -> str:
    """Every table docs/benchmarks.md shows."""
    summaries = summarize(results)
    s = results.settings
    out = [
        f"Runs: {s.runs} per mechanism and size (medians; min–max in brackets), "
        f"{results.host.qemu}, {results.host.accel.upper()}, -smp {results.host.smp}, "
        f"host {results.host.cpus} CPUs; recorded {results.created}.",
        "",
    ]
    kdumps = [k for k in KDUMPS if k in s.mechanisms]
    main = MAIN if MAIN in s.mechanisms else s.mechanisms[0]
    for title, attr, lo, hi in (
        (
            "Downtime: panic to the OS in service (`warmboot: os ready`)",
            "downtime_seconds",
            "downtime_min",
            "downtime_max",
        ),
        ("Panic to the dump saved", "saved_seconds", "saved_min", "saved_max"),
    ):
        out += [
            f"### {title}",
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
                x = find_summary(summaries, m, ram)
                cells.append(
                    f"{getattr(x, attr):.2f} s ({getattr(x, lo):.2f}–{getattr(x, hi):.2f})"
                    if x
                    else "—"
                )
            wb = find_summary(summaries, main, ram)
            ratios = [_ratio(wb, find_summary(summaries, k, ram), attr) for k in kdumps]
            out.append(f"| {ram} | " + " | ".join(cells + ratios) + " |")
        out.append("")

    out += [
        "",
        "### Memory the OS cannot use in normal operation",
        "",
        "MiB; MemTotal of a boot with no crash mechanism minus MemTotal under each "
        "mechanism. CMA pages count in MemTotal (the OS uses them for movable "
        "pages), so warmboot's `cma=` costs nothing here; CmaTotal is shown beside it.",
        "",
        "| guest RAM | no mechanism: MemTotal | mechanism | crashkernel= | MemTotal "
        "| CmaTotal | unavailable |",
        "|---|---|---|---|---|---|---|",
    ]
    for ram in s.sizes:
        plain = plain_mem_total_kib(results, ram)
        for m in (main, "kdump-cp"):
            x = find_summary(summaries, m, ram)
            if not x or plain is None:
                continue
            name = "warmboot" if m.startswith("warmboot") else "kdump"
            out.append(
                f"| {ram} | {_mib_kib(plain)} | {name} | "
                f"{x.crash_kernel_bytes / 2**20:g} MiB | {_mib_kib(x.mem_total_kib)} | "
                f"{_mib_kib(x.cma_total_kib)} | **{_mib_kib(plain - x.mem_total_kib)}** |"
            )

    out += [
        "",
        "### Capture",
        "",
        "Crashed memory read per second of writing the dump to the OS's virtio disk "
        "(host-side, from the capture's start line to its saved line, sync included). "
        "On the disk: the blocks the file takes (dumpcap leaves zero pages as holes). "
        "Filtered: `makedumpfile -d 31 -l` of the ELF vmcore on the host.",
        "",
        "| guest RAM | mechanism | memory read, MB | write, s | MB/s | vmcore, MB "
        "| on the disk, MB | format | filtered -d 31 -l, MB |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for ram in s.sizes:
        for m in s.mechanisms:
            x = find_summary(summaries, m, ram)
            if x:
                saved = x.filtered_bytes if x.vmcore_format == "elf" else x.vmcore_bytes
                out.append(
                    f"| {ram} | {LABELS[m]} | {_mb(x.memory_bytes)} | "
                    f"{x.capture_seconds:.2f} | {x.throughput_mb_s:.0f} | "
                    f"{_mb(x.vmcore_bytes)} | {_mb(x.vmcore_disk_bytes)} | "
                    f"{x.vmcore_format} | "
                    f"{_mb(saved)} |"
                )

    out += ["", "### Where the time goes", ""]
    for m in s.mechanisms:
        rows = {ram: find_summary(summaries, m, ram) for ram in s.sizes}
        first = next((x for x in rows.values() if x), None)
        if not first:
            continue
        out += [
            f"{LABELS[m]}, seconds (median per phase; each phase ends at the console "
            "line that starts the next):",
            "",
            "| phase | " + " | ".join(s.sizes) + " |",
            "|---" * (1 + len(s.sizes)) + "|",
        ]
        found = [rows[ram] for ram in s.sizes]
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


def write_charts(results: BenchResults, directory: Path) -> list[Path]:
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

    def save(fig, name: str) -> None:
        fig.tight_layout()
        path = directory / name
        # Fixed metadata: a re-run with the same numbers gives the same file.
        fig.savefig(path, dpi=110, metadata={"Software": None})
        plt.close(fig)
        written.append(path)

    # Downtime, grouped by RAM size, with the runs' spread.
    fig, ax = plt.subplots(figsize=(7, 4))
    width = 0.8 / len(s.mechanisms)
    for i, m in enumerate(s.mechanisms):
        xs, ys, lo, hi = [], [], [], []
        for j, ram in enumerate(s.sizes):
            x = find_summary(summaries, m, ram)
            if x:
                xs.append(j + i * width)
                ys.append(x.downtime_seconds)
                lo.append(x.downtime_seconds - x.downtime_min)
                hi.append(x.downtime_max - x.downtime_seconds)
        ax.bar(xs, ys, width, yerr=[lo, hi], capsize=3, label=LABELS[m], color=COLORS[m])
        for bar_x, bar_y in zip(xs, ys, strict=True):
            ax.annotate(
                f"{bar_y:.1f}",
                (bar_x, bar_y),
                ha="center",
                va="bottom",
                fontsize=8,
                xytext=(0, 3),
                textcoords="offset points",
            )
    ax.set_xticks(
        [j + width * (len(s.mechanisms) - 1) / 2 for j in range(len(s.sizes))],
        [f"{ram} guest" for ram in s.sizes],
    )
    ax.set_ylabel("panic to OS in service, s (median)")
    ax.set_title("Downtime after a panic")
    ax.legend(fontsize=8)
    save(fig, "downtime.png")

    # Phases, stacked by category.
    rows = [
        (ram, m, x)
        for ram in s.sizes
        for m in s.mechanisms
        if (x := find_summary(summaries, m, ram))
    ]
    fig, ax = plt.subplots(figsize=(9, 1 + 0.5 * len(rows)))
    seen = set()
    for y, (_ram, _m, x) in enumerate(rows):
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
    ax.set_yticks(range(len(rows)), [f"{LABELS[m]}, {ram}" for ram, m, _ in rows], fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel("seconds after the panic (median per phase)")
    ax.set_title("Where the time goes")
    ax.legend(fontsize=7, ncol=3, loc="lower right")
    save(fig, "phases.png")

    # Memory unavailable in normal operation.
    fig, ax = plt.subplots(figsize=(6, 3.5))
    setups = [
        (MAIN if MAIN in s.mechanisms else s.mechanisms[0], "warmboot"),
        ("kdump-cp", "kdump"),
    ]
    for i, (m, label) in enumerate(setups):
        xs, ys = [], []
        for j, ram in enumerate(s.sizes):
            x, plain = find_summary(summaries, m, ram), plain_mem_total_kib(results, ram)
            if x and plain is not None:
                xs.append(j + i * 0.4)
                ys.append((plain - x.mem_total_kib) / 1024)
        ax.bar(xs, ys, 0.4, label=label, color=COLORS[m])
        for bar_x, bar_y in zip(xs, ys, strict=True):
            ax.annotate(
                f"{bar_y:.1f}",
                (bar_x, bar_y),
                ha="center",
                va="bottom",
                fontsize=8,
                xytext=(0, 3),
                textcoords="offset points",
            )
    ax.set_xticks([j + 0.2 for j in range(len(s.sizes))], [f"{ram} guest" for ram in s.sizes])
    ax.set_ylabel("MiB not in MemTotal")
    ax.set_title("Memory the OS gives up in normal operation")
    ax.legend(fontsize=8)
    save(fig, "memory.png")

    # Capture: throughput and dump sizes.
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.8))
    for i, m in enumerate(s.mechanisms):
        xs, rates, sizes, filtered = [], [], [], []
        for j, ram in enumerate(s.sizes):
            x = find_summary(summaries, m, ram)
            if x:
                xs.append(j + i * width)
                rates.append(x.throughput_mb_s)
                sizes.append((x.vmcore_disk_bytes or x.vmcore_bytes) / 1e6)
                filtered.append((x.filtered_bytes or 0) / 1e6)
        left.bar(xs, rates, width, label=LABELS[m], color=COLORS[m])
        right.bar(xs, sizes, width, label=LABELS[m], color=COLORS[m])
        if any(filtered):
            right.bar(
                xs,
                filtered,
                width,
                color="black",
                alpha=0.5,
                label=f"{LABELS[m]}, -d 31 -l on the host",
            )
    for ax, title, unit in (
        (left, "Crashed memory read per second", "MB/s"),
        (right, "Dump: blocks it takes on the OS disk", "MB"),
    ):
        ax.set_xticks(
            [j + width * (len(s.mechanisms) - 1) / 2 for j in range(len(s.sizes))],
            [f"{ram} guest" for ram in s.sizes],
        )
        ax.set_ylabel(unit)
        ax.set_title(title)
    right.set_yscale("log")
    left.legend(fontsize=7)
    right.legend(fontsize=7)
    save(fig, "capture.png")
    return written
