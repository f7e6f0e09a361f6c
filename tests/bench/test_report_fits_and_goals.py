"""The report's arithmetic: per-phase fits against RAM, their extrapolation,
the goals, and older records read as idle guests."""

from __future__ import annotations

import pytest

from warmboot.bench.report import fit_line, fit_phase, fitted_total, goals, markdown
from warmboot.bench.results import BenchResults, find_summary, summarize
from wbtest import TOP

PREVIOUS = TOP / "docs" / "benchmarks" / "2026-12-07-idle" / "results.json"


def test_a_straight_line_is_fitted_exactly():
    intercept, slope = fit_line([(0.5, 2.0), (2.0, 5.0), (8.0, 17.0)])
    assert intercept == pytest.approx(1.0) and slope == pytest.approx(2.0)


def test_a_phase_that_grows_with_memory_is_extrapolated_along_its_line():
    fit = fit_phase("copy", [(0.5, 1.0), (2.0, 4.0), (8.0, 16.0)])
    assert fit.scales
    assert fit.at(2048) == pytest.approx(4096.0)


def test_noise_in_a_constant_phase_does_not_extrapolate():
    # 0.1 s of jitter over 7.5 GiB would be 27 s at 2 TiB if fitted.
    fit = fit_phase("firmware", [(0.5, 1.0), (2.0, 1.1), (8.0, 1.1)])
    assert not fit.scales
    assert fit.at(2048) == pytest.approx(1.0667, abs=1e-3)


def test_the_total_to_a_phase_sums_the_phases_before_it():
    fits = [
        fit_phase("boot", [(1, 2.0), (8, 2.0)]),
        fit_phase("copy", [(1, 1.0), (8, 8.0)]),
        fit_phase("after", [(1, 5.0), (8, 5.0)]),
    ]
    assert fitted_total(fits, "copy", 256) == pytest.approx(2.0 + 256.0)


def test_a_schema_2_record_reads_as_idle_guests_with_the_memory_goal_checked():
    record = BenchResults.load(PREVIOUS)
    assert record.settings.loads == ("idle",)
    assert {run.load for run in record.crash_runs} == {"idle"}
    checked = goals(record)
    assert [g.met for g in checked if "memory" in g.what] == [True, True]
    table = markdown(record)
    assert "### Panic to the OS in service, idle guest" in table
    assert "### Extrapolated to large machines (idle guests)" in table


def test_the_in_service_flows_save_goals_are_checked_at_2g_against_the_measured_medians():
    record = BenchResults.load(PREVIOUS)
    wb, kd = (
        find_summary(summarize(record), m, "2G", "idle")
        for m in ("warmboot-in-service", "kdump-makedumpfile")
    )
    assert wb and kd
    checked = {g.what.split(":")[0]: g for g in goals(record)}
    saved = checked["panic → dump saved at 2G idle"]
    assert saved.met == (wb.saved_seconds <= kd.saved_seconds)
    assert f"{wb.saved_seconds:.2f} s against {kd.saved_seconds:.2f} s" == saved.measured
    size = checked["dump file at 2G idle"]
    assert size.met == (wb.vmcore_bytes <= kd.vmcore_bytes)
    # The in-service ratio is checked for the idle guests as well.
    assert "panic → in service at 2G idle" in checked
