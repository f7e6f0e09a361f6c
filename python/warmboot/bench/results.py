"""The benchmark's record (results.json) and what is derived from it.

The file holds every run, not just medians, so a report can be recomputed
and a reader can see the spread. Format: JSON, `schema` 3 (2 added crash runs'
saved_seconds; 3 adds loaded guests: the runs' load and workload, the
settings' loads and runs_at; a schema 2 record reads as idle guests only);
times in seconds, sizes in bytes or KiB as the field names say.
"""

from __future__ import annotations

import dataclasses
import json
import statistics
import types
import typing
from dataclasses import dataclass
from pathlib import Path

from .buildtime import BuildTiming, TimedCommand
from .errors import ResultsError
from .runs import (
    CrashRun,
    MemoryInUse,
    Milestone,
    PlainBoot,
    Vmcore,
    Workload,
    phase_durations,
)

SCHEMA = 3
READABLE_SCHEMAS = (2, 3)


@dataclass(frozen=True)
class HostInfo:
    qemu: str  # qemu-system-x86_64 --version, first line
    accel: str  # QEMU's -accel value: "tcg,tb-size=32" or "kvm" (records before 2026-12-07: "tcg")
    cpus: int
    kernel: str  # the host's uname -r
    smp: int  # the guest's CPUs


@dataclass(frozen=True)
class BenchSettings:
    board: str
    sizes: tuple[str, ...]
    runs: int
    mechanisms: tuple[str, ...]
    kdump_crashkernel: str
    warmboot_cmdline: str  # the OS's command line under warmboot
    kdump_cmdline: str  # ... under kdump
    capture_cmdline: str  # the kdump capture kernel's (without wbkdump.copy=)
    loads: tuple[str, ...] = ("idle",)
    runs_at: tuple[tuple[str, int], ...] = ()  # runs per size, where not `runs`

    def runs_for(self, size: str) -> int:
        return runs_at_size(self.runs, self.runs_at, size)


def runs_at_size(runs: int, runs_at: tuple[tuple[str, int], ...], size: str) -> int:
    """Runs at size: its entry in runs_at, or runs."""
    return dict(runs_at).get(size, runs)


@dataclass(frozen=True)
class BenchResults:
    schema: int
    created: str  # UTC, ISO 8601
    host: HostInfo
    settings: BenchSettings
    plain_boots: tuple[PlainBoot, ...]
    crash_runs: tuple[CrashRun, ...]
    build: tuple[BuildTiming, ...]  # empty when the build was not timed

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(dataclasses.asdict(self), indent=1) + "\n")

    @classmethod
    def load(cls, path: Path) -> BenchResults:
        try:
            data = json.loads(Path(path).read_text())
        except FileNotFoundError:
            raise ResultsError(f"{path} does not exist; `warmboot bench run` writes it") from None
        except json.JSONDecodeError as exc:
            raise ResultsError(f"{path}: not JSON: {exc}") from None
        if not isinstance(data, dict) or data.get("schema") not in READABLE_SCHEMAS:
            found = data.get("schema") if isinstance(data, dict) else "?"
            raise ResultsError(
                f"{path}: schema {found}, this warmboot reads schema "
                + " and ".join(map(str, READABLE_SCHEMAS))
            )
        try:
            return _decode(cls, data)
        except (KeyError, TypeError, ValueError) as exc:
            raise ResultsError(f"{path}: malformed record: {exc}") from None


_TYPES = {
    c.__name__: c
    for c in (
        HostInfo,
        BenchSettings,
        BenchResults,
        PlainBoot,
        CrashRun,
        MemoryInUse,
        Milestone,
        Vmcore,
        Workload,
        BuildTiming,
        TimedCommand,
    )
}


def _decode(kind, value):
    """value (parsed JSON) as kind: a dataclass, tuple[X, ...], X | None or a scalar
    (annotations are strings here, resolved by get_type_hints)."""
    origin = typing.get_origin(kind)
    if isinstance(kind, type) and dataclasses.is_dataclass(kind):
        hints = typing.get_type_hints(kind, localns=_TYPES)
        # A field with a default may be missing: it was added to the record later.
        return kind(
            **{
                f.name: _decode(hints[f.name], value[f.name])
                for f in dataclasses.fields(kind)
                if f.init and (f.name in value or f.default is dataclasses.MISSING)
            }
        )
    if origin in (typing.Union, types.UnionType):
        if value is None:
            return None
        (inner,) = [a for a in typing.get_args(kind) if a is not type(None)]
        return _decode(inner, value)
    if origin is tuple:
        args = typing.get_args(kind)
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_decode(args[0], v) for v in value)
        if len(args) != len(value):
            raise ValueError(f"{value!r} does not have {len(args)} items")
        return tuple(_decode(a, v) for a, v in zip(args, value, strict=True))
    if kind is float:
        return float(value)
    if kind in (int, str, bool) and not isinstance(value, kind):
        raise TypeError(f"{value!r} is not {kind.__name__}")
    return value


# -- summaries ----------------------------------------------------------------


@dataclass(frozen=True)
class MechanismSummary:
    """Medians over the runs of one mechanism at one RAM size."""

    mechanism: str
    ram: str
    load: str
    runs: int
    downtime_seconds: float
    downtime_min: float
    downtime_max: float
    saved_seconds: float
    saved_min: float
    saved_max: float
    phases: tuple[tuple[str, str, float], ...]  # (phase, category, median seconds)
    mem_total_kib: int
    cma_total_kib: int
    crash_kernel_bytes: int
    vmcore_bytes: int
    vmcore_disk_bytes: int | None
    vmcore_format: str
    memory_bytes: int
    capture_seconds: float
    throughput_mb_s: float
    filtered_bytes: int | None
    used_share: float | None  # of MemTotal before the crash (loaded runs)


def summarize(results: BenchResults) -> list[MechanismSummary]:
    summaries = []
    for ram in results.settings.sizes:
        for load in results.settings.loads:
            for mechanism in results.settings.mechanisms:
                runs = [
                    r
                    for r in results.crash_runs
                    if r.ram == ram and r.mechanism == mechanism and r.load == load
                ]
                if runs:
                    summaries.append(_summary(mechanism, ram, load, runs))
    return summaries


def _median_int(values) -> int:
    return int(statistics.median(values))


def _median_or_none(values: list[int | None]) -> int | None:
    known = [v for v in values if v is not None]
    return _median_int(known) if known else None


def _summary(mechanism: str, ram: str, load: str, runs: list[CrashRun]) -> MechanismSummary:
    downtimes = [r.downtime_seconds for r in runs]
    saved = [r.saved_seconds for r in runs]
    phases = []
    for i, m in enumerate(runs[0].milestones):
        durations = [phase_durations(r.milestones)[i][1] for r in runs]
        phases.append((m.name, m.category, statistics.median(durations)))
    filtered = [r.vmcore.filtered_bytes for r in runs if r.vmcore.filtered_bytes is not None]
    used = [r.workload.used_share for r in runs if r.workload]
    return MechanismSummary(
        mechanism=mechanism,
        ram=ram,
        load=load,
        runs=len(runs),
        downtime_seconds=statistics.median(downtimes),
        downtime_min=min(downtimes),
        downtime_max=max(downtimes),
        saved_seconds=statistics.median(saved),
        saved_min=min(saved),
        saved_max=max(saved),
        phases=tuple(phases),
        mem_total_kib=_median_int(r.memory.mem_total_kib for r in runs),
        cma_total_kib=_median_int(r.memory.cma_total_kib for r in runs),
        crash_kernel_bytes=_median_int(r.memory.crash_kernel_bytes for r in runs),
        vmcore_bytes=_median_int(r.vmcore.bytes for r in runs),
        vmcore_disk_bytes=_median_or_none([r.vmcore.disk_bytes for r in runs]),
        vmcore_format=runs[0].vmcore.format,
        memory_bytes=_median_int(r.vmcore.memory_bytes for r in runs),
        capture_seconds=statistics.median(r.vmcore.capture_seconds for r in runs),
        throughput_mb_s=statistics.median(r.vmcore.throughput_mb_s for r in runs),
        filtered_bytes=_median_int(filtered) if filtered else None,
        used_share=statistics.median(used) if used else None,
    )


def plain_mem_total_kib(results: BenchResults, ram: str) -> int | None:
    boots = [b.memory.mem_total_kib for b in results.plain_boots if b.ram == ram]
    return _median_int(boots) if boots else None


def find_summary(
    summaries: list[MechanismSummary], mechanism: str, ram: str, load: str = "idle"
) -> MechanismSummary | None:
    return next(
        (s for s in summaries if s.mechanism == mechanism and s.ram == ram and s.load == load),
        None,
    )


def first_summary(
    summaries: list[MechanismSummary], mechanism: str, ram: str, loads: tuple[str, ...]
) -> MechanismSummary | None:
    """mechanism at ram under the first of loads that was measured (memory
    figures, read before any load, are the same under each)."""
    return next((x for load in loads if (x := find_summary(summaries, mechanism, ram, load))), None)
