"""payloads/libpmt/pmt.h and the tables in docs/pmt.md are generated from
warmboot.pmt.spec; the committed copies must match what the generator writes now."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from warmboot import pmt
from warmboot.pmt import spec
from warmboot.handoff import cgen


@pytest.mark.parametrize("which", ["header", "doc"])
def test_committed_file_matches_the_generator(which: str) -> None:
    header, doc = cgen.outputs()
    out = header if which == "header" else doc
    assert not out.stale, (
        f"{out.path} is out of date with python/warmboot/pmt/; "
        f"run `{cgen.REGENERATE}` and commit the result")


def test_drift_is_reported_by_gen_check(tmp_path: Path) -> None:
    header = tmp_path / "pmt.h"
    doc = tmp_path / "pmt.md"
    header.write_text(cgen.render_header().replace("#define PMT_MAJOR 1", "#define PMT_MAJOR 9"))
    doc.write_text(cgen.DOC_PATH.read_text())
    cmd = [sys.executable, "-m", "warmboot.cli", "pmt", "gen", "--header", str(header),
           "--doc", str(doc)]
    check = subprocess.run(cmd + ["--check"], capture_output=True, text=True)
    assert check.returncode == 1
    assert f"{header} is out of date; run `{cgen.REGENERATE}`" in check.stdout
    assert "PMT_MAJOR 9" in header.read_text()
    subprocess.run(cmd, check=True, capture_output=True)
    assert header.read_text() == cgen.render_header()
    assert subprocess.run(cmd + ["--check"], capture_output=True).returncode == 0


def test_doc_tables_are_replaced_between_markers() -> None:
    stale = cgen.DOC_PATH.read_text().replace("| u16 | `major` |", "| u16 | `mjr` |")
    assert "`mjr`" not in cgen.update_doc(stale)
    with pytest.raises(pmt.PmtError, match="missing"):
        cgen.update_doc("no generated blocks here")


def test_header_records_every_field_offset_and_enum() -> None:
    text = cgen.render_header()
    for layout in spec.LAYOUTS:
        assert f"_Static_assert(sizeof(struct {layout.c_struct}) == {layout.size}," in text
        for field in layout.fields:
            assert (f"_Static_assert(offsetof(struct {layout.c_struct}, {field.name}) == "
                    f"{layout.offsets[field.name]}") in text
    for reason in pmt.RejectReason:
        assert f"\tPMT_REJECT_{reason.name} = {reason.value}," in text
    assert text.startswith("/* SPDX-License-Identifier: GPL-2.0-only */\n")
