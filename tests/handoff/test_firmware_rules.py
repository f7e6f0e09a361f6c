"""The firmware's own rules on top of the format's (site-local/warmboot/
pmt_common.c: warmboot_check() and the SMM snapshot), compiled for the host
with qemu-q35's Kconfig values: the table must be the anchor, CPU_STATE must
lie in the anchor's second half, and a BOOT_COPY source must lie inside the
boot window; the snapshot SMM judges agrees with the in-place judgement."""

from __future__ import annotations

import dataclasses
import subprocess
from pathlib import Path

import pytest

from pmt_samples import Q35_ANCHOR as ANCHOR
from pmt_samples import Q35_BOOT_WINDOW as WINDOW  # CONFIG_WARMBOOT_BOOT_WINDOW_*
from pmt_samples import Q35_COOKIE as COOKIE
from pmt_samples import q35_armed_table
from warmboot import pmt
from warmboot.pmt import Pmt, RejectReason
from wbtest import TOP

HALF = 0x8000
HOST = TOP / "tests" / "fuzz" / "c" / "host"
FIRMWARE = TOP / "coreboot-config" / "site-local" / "warmboot"


@pytest.fixture(scope="module")
def harness(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("fwjudge") / "firmware_judge_harness"
    subprocess.run(
        [
            "gcc",
            "-std=gnu11",
            "-O1",
            "-g",
            "-Wall",
            "-Wextra",
            "-Werror",
            "-fsanitize=address,undefined",
            "-fno-sanitize-recover=all",
            f"-I{HOST}",
            f"-I{FIRMWARE}",
            f"-I{TOP / 'payloads' / 'libpmt'}",
            "-include",
            str(HOST / "kconfig.h"),
            "-o",
            str(out),
            str(TOP / "tests" / "handoff" / "firmware_judge_harness.c"),
            str(FIRMWARE / "pmt_common.c"),
            str(TOP / "payloads/libpmt/pmt_validate.c"),
        ],
        check=True,
    )
    return out


def pmtctl_like(**changes) -> Pmt:
    return dataclasses.replace(q35_armed_table(), **changes)


def replace_entry(table: Pmt, index: int, **changes) -> Pmt:
    entries = list(table.entries)
    entries[index] = dataclasses.replace(entries[index], **changes)
    return dataclasses.replace(table, entries=tuple(entries))


def judge(harness: Path, table: Pmt | bytes, anchor: int = ANCHOR) -> dict[str, tuple[int, int]]:
    data = table if isinstance(table, bytes) else pmt.encode(table)
    out = subprocess.run(
        [str(harness), hex(anchor), hex(COOKIE)], input=data, capture_output=True, check=True
    ).stdout.decode()
    return {
        kind: (int(reason), int(entry))
        for kind, reason, entry in (line.split() for line in out.splitlines())
    }


def test_the_armed_table_is_accepted_in_place_and_as_a_snapshot(harness):
    assert judge(harness, pmtctl_like()) == {"check": (0, -1), "snapshot": (0, -1)}


@pytest.mark.parametrize(
    "base, size, dest, preserve_from",
    [
        pytest.param(0x0, WINDOW[1], 0x10000000, 0x5000000, id="below-the-window"),
        pytest.param(
            WINDOW[0] + 0x1000, WINDOW[1], 0x10000000, 0x5001000, id="past-the-windows-end"
        ),
        pytest.param(0xA0000, 0x20000, 0x10000000, 0x5000000, id="smram"),
        pytest.param(ANCHOR + 0x10000, 0x1000, 0x10000000, 0x5000000, id="cbmem-above-the-anchor"),
    ],
)
def test_a_boot_copy_source_outside_the_boot_window_is_refused(
    harness, base, size, dest, preserve_from
):
    """The format's rules pass (no overlap, destination in OS memory); only
    the firmware's "BOOT_COPY sources lie inside the boot window" refuses it."""
    table = replace_entry(pmtctl_like(), 1, base=base, size=size, dest=dest)
    table = replace_entry(table, 0, base=preserve_from, size=0x10000000 - preserve_from)
    pmt.validate(pmt.encode(table))  # a valid table by the format alone
    bad = (RejectReason.BAD_ENTRY, 1)
    assert judge(harness, table) == {"check": bad, "snapshot": bad}


def test_a_boot_copy_source_exactly_the_boot_window_is_accepted(harness):
    table = replace_entry(pmtctl_like(), 1, base=WINDOW[0], size=WINDOW[1])
    assert judge(harness, table)["check"] == (0, -1)


@pytest.mark.parametrize("cpu_state", [ANCHOR + HALF - 0x1000, ANCHOR + 2 * HALF, ANCHOR + 0x1000])
def test_cpu_state_outside_the_anchors_second_half_is_refused(harness, cpu_state):
    table = replace_entry(pmtctl_like(cpu_state_addr=cpu_state), 5, base=cpu_state)
    if cpu_state >= ANCHOR + 2 * HALF:
        table = replace_entry(table, 3, size=0x20000)  # still inside a PRESERVE
    reason, _ = judge(harness, table)["check"]
    assert reason in (RejectReason.CPU_STATE_FORBIDDEN, RejectReason.OVERLAP)
    assert judge(harness, table)["snapshot"][0] == reason


def test_a_table_that_is_not_the_anchor_is_refused(harness):
    assert judge(harness, pmtctl_like(), anchor=ANCHOR + 0x2000000)["check"] == (
        RejectReason.TABLE_OUTSIDE_ENTRY,
        -1,
    )


def test_smm_refuses_a_table_larger_than_its_copy(harness):
    """SMM copies at most 4 KiB; romstage judges the whole first half."""
    big = replace_entry(pmtctl_like(trailer=bytes(4096)), 4, size=0x2000)  # TABLE grows
    assert judge(harness, big) == {"check": (0, -1), "snapshot": (RejectReason.BAD_SIZES, -1)}
