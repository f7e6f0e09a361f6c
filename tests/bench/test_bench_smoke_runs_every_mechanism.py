"""The benchmark's smoke run: one size (512M), one run of every mechanism
(warmboot in service and with the LinuxBoot capture, kdump both ways of
copying /proc/vmcore) on an idle and a loaded guest, no build timing. It keeps
`warmboot bench run` working; the published numbers come from the full run
(docs/benchmarks.md)."""

from __future__ import annotations

import pytest

from warmboot.bench.benchmark import BenchConfig, run_benchmark
from warmboot.bench.report import markdown
from warmboot.bench.results import BenchResults
from warmboot.bench.runs import MECHANISMS
from wbtest import TOP

pytestmark = pytest.mark.qemu


def test_bench_smoke_runs_every_mechanism(tmp_path):
    config = BenchConfig(
        sizes=("512M",),
        runs=1,
        runs_at=(),
        mechanisms=MECHANISMS,
        loads=("idle", "loaded"),
        build_runs=0,
        workdir=tmp_path / "work",
        logs=TOP / "build" / "bench" / "smoke-logs",
    )
    results = run_benchmark(config)
    saved = tmp_path / "results.json"
    results.save(saved)
    record = BenchResults.load(saved)
    assert record == results

    (plain,) = record.plain_boots
    for mechanism in MECHANISMS:
        for load in ("idle", "loaded"):
            (run,) = [r for r in record.crash_runs if r.mechanism == mechanism and r.load == load]
            assert run.downtime_seconds > 0 and run.saved_seconds > 0, run
            assert [m.seconds for m in run.milestones] == sorted(m.seconds for m in run.milestones)
            assert run.vmcore.bytes > 0 and run.vmcore.capture_seconds > 0, run.vmcore
    by_name = {r.mechanism: r for r in record.crash_runs if r.load == "idle"}
    loaded = {r.mechanism: r for r in record.crash_runs if r.load == "loaded"}
    # kdump reserves what Debian's kdump-tools asks for at 512 MiB.
    assert record.settings.kdump_crashkernel == "384M-:128M"
    assert by_name["kdump-cp"].memory.crash_kernel_bytes == 128 << 20
    # kdump gives up its crashkernel=; warmboot nothing (its cma= stays in MemTotal).
    for mechanism in ("kdump-cp", "kdump-makedumpfile"):
        run = by_name[mechanism]
        assert run.memory.crash_kernel_loaded
        assert (
            plain.memory.mem_total_kib - run.memory.mem_total_kib
            == run.memory.crash_kernel_bytes // 1024
        ), (plain.memory, run.memory)
    for mechanism in ("warmboot-in-service", "warmboot-linuxboot"):
        run = by_name[mechanism]
        assert not run.memory.crash_kernel_loaded and run.memory.crash_kernel_bytes == 0
        assert run.memory.mem_total_kib == plain.memory.mem_total_kib, (plain.memory, run.memory)
        assert run.memory.cma_total_kib == 208 * 1024
    # In service: the OS is back before its dump is saved, and makedumpfile filtered it.
    in_service = by_name["warmboot-in-service"]
    assert in_service.downtime_seconds < in_service.saved_seconds
    assert in_service.vmcore.format == "kdump-compressed"
    assert in_service.vmcore.bytes < in_service.vmcore.memory_bytes / 10
    # Full dumps of (nearly) all of RAM, ELF; the filtered one is far smaller.
    for mechanism in ("warmboot-linuxboot", "kdump-cp"):
        vmcore = by_name[mechanism].vmcore
        assert vmcore.format == "elf" and vmcore.bytes > 250e6, vmcore
        assert 0 < vmcore.filtered_bytes < vmcore.bytes / 10, vmcore
    # dumpcap leaves the idle guest's zero pages as holes; busybox cp writes every block.
    assert (
        by_name["warmboot-linuxboot"].vmcore.disk_bytes
        < by_name["warmboot-linuxboot"].vmcore.bytes / 2
    )
    assert by_name["kdump-cp"].vmcore.disk_bytes >= by_name["kdump-cp"].vmcore.bytes
    filtered = by_name["kdump-makedumpfile"].vmcore
    assert filtered.format == "kdump-compressed" and filtered.bytes < filtered.memory_bytes / 10

    # The loaded guest: about 70% of RAM in use, of every kind, some of it dirty.
    for mechanism, run in loaded.items():
        work = run.workload
        assert work is not None and 0.6 < work.used_share < 0.8, (mechanism, work)
        assert work.anon_kib > work.mem_total_kib // 4, (mechanism, work)
        assert work.cached_kib > work.mem_total_kib // 8, (mechanism, work)
        assert work.slab_kib > 8 << 10 and work.dirty_kib >= 4 << 10, (mechanism, work)
    # Random data leaves dumpcap few zero pages to skip; makedumpfile's -d 31
    # drops user and cache pages whatever they hold.
    dense = loaded["warmboot-linuxboot"].vmcore
    assert dense.disk_bytes > by_name["warmboot-linuxboot"].vmcore.disk_bytes * 2, dense
    for mechanism in ("warmboot-in-service", "kdump-makedumpfile"):
        vmcore = loaded[mechanism].vmcore
        assert vmcore.bytes < vmcore.memory_bytes / 10, (mechanism, vmcore)

    table = markdown(record)
    assert "### Panic to the OS in service, loaded guest" in table
    assert "warmboot (in service) ÷ kdump (cp)" in table
    assert "### Panic to the dump saved, idle guest" in table
    assert "### The loaded guest" in table
