"""`warmboot bench run` refuses malformed options with one line, before it
builds or boots anything; what the guest reports about its load is read strictly."""

from __future__ import annotations

import pytest

from warmboot.bench.cli import main
from warmboot.bench.errors import GuestRunError
from warmboot.bench.runs import parse_workload


@pytest.mark.parametrize(
    ("option", "message"),
    [
        (["--runs-at", "8G"], "--runs-at '8G' is not SIZE=RUNS"),
        (["--runs-at", "8G=0"], "every size needs at least one run"),
        (["--loads", "busy"], "loads must be some of idle, loaded"),
        (["--sizes", "lots"], "guest RAM size 'lots' is not like 512M or 2G"),
    ],
)
def test_a_malformed_option_is_one_line_and_nothing_runs(option, message, capsys):
    assert main(["run", "--build-runs", "0", *option]) == 1
    err = capsys.readouterr().err
    assert err.startswith("warmboot: error: ") and message in err, err
    assert err.count("\n") == 1, err


def test_the_load_line_is_read_into_meminfo_fields():
    line = (
        "MemTotal: 2048180 kB MemFree: 552932 kB Cached: 507332 kB Dirty: 8148 kB "
        "AnonPages: 904052 kB Slab: 68844 kB "
    )
    work = parse_workload(line, 5.5)
    assert (work.anon_kib, work.cached_kib, work.slab_kib, work.dirty_kib) == (
        904052,
        507332,
        68844,
        8148,
    )
    assert work.used_share == pytest.approx(1 - 552932 / 2048180)


def test_a_load_line_missing_a_field_is_refused():
    with pytest.raises(GuestRunError, match="no Slab"):
        parse_workload("MemTotal: 1 kB MemFree: 1 kB Cached: 1 kB Dirty: 1 kB AnonPages: 1 kB", 1)
