"""payloads/libpmt/pmt.h, the tables in docs/pmt.md and the kernel's pmt.h
inside linuxboot/patches/linux-6.1/ are generated from warmboot.pmt.spec; the
committed copies must match what the generator writes now."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from warmboot import pmt
from warmboot.handoff import cgen
from warmboot.pmt import spec


@pytest.mark.parametrize("which", ["header", "doc", "kernel patch", "names"])
def test_committed_file_matches_the_generator(which: str) -> None:
    outputs = dict(zip(["header", "doc", "kernel patch", "names"], cgen.outputs(), strict=False))
    assert len(outputs) == 4, "no kernel patch carries pmt.h"
    out = outputs[which]
    assert not out.stale, (
        f"{out.path} is out of date with python/warmboot/pmt/; "
        f"run `{cgen.REGENERATE}` and commit the result"
    )


def test_kernel_patch_carries_the_same_definitions_as_the_firmwares_header() -> None:
    patch = cgen.kernel_patch()
    body = re.search(
        r"\+\+\+ b/drivers/firmware/warmboot/pmt.h\n@@ -0,0 \+1,\d+ @@\n"
        r"((?:\+.*\n)+)",
        patch.read_text(),
    )
    kernel = "".join(line[1:] + "\n" for line in body[1].splitlines())
    firmware = cgen.render_header()
    # One definition: only the includes and the include guard differ.
    strip = re.compile(r"^(#include .*|#(ifndef|define|endif) .*WARMBOOT_PMT_H.*)$", re.M)
    assert strip.sub("", kernel) == strip.sub("", firmware)


def test_a_changed_definition_rewrites_the_kernel_patch_hunk() -> None:
    text = cgen.kernel_patch().read_text()
    changed = cgen.render_header(kernel=True).replace("#define PMT_MAJOR 1", "#define PMT_MAJOR 9")
    patched = cgen.embed_in_patch(text, cgen.KERNEL_HEADER, changed)
    assert "+#define PMT_MAJOR 9\n" in patched and "+#define PMT_MAJOR 1\n" not in patched
    # The rest of the series is untouched, and the hunk still counts its lines.
    assert patched.count("\ndiff --git") == text.count("\ndiff --git")
    n = int(re.search(r"pmt.h\n@@ -0,0 \+1,(\d+) @@", patched)[1])
    assert n == len(changed.splitlines())


def test_drift_is_reported_by_gen_check(tmp_path: Path) -> None:
    header = tmp_path / "pmt.h"
    doc = tmp_path / "pmt.md"
    header.write_text(cgen.render_header().replace("#define PMT_MAJOR 1", "#define PMT_MAJOR 9"))
    doc.write_text(cgen.DOC_PATH.read_text())
    cmd = [
        sys.executable,
        "-m",
        "warmboot.cli",
        "pmt",
        "gen",
        "--header",
        str(header),
        "--doc",
        str(doc),
    ]
    check = subprocess.run([*cmd, "--check"], capture_output=True, text=True)
    assert check.returncode == 1
    assert f"{header} is out of date; run `{cgen.REGENERATE}`" in check.stdout
    assert "PMT_MAJOR 9" in header.read_text()
    subprocess.run(cmd, check=True, capture_output=True)
    assert header.read_text() == cgen.render_header()
    assert subprocess.run([*cmd, "--check"], capture_output=True).returncode == 0


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
            assert (
                f"_Static_assert(offsetof(struct {layout.c_struct}, {field.name}) == "
                f"{layout.offsets[field.name]}"
            ) in text
    for reason in pmt.RejectReason:
        assert f"\tPMT_REJECT_{reason.name} = {reason.value}," in text
    assert text.startswith("/* SPDX-License-Identifier: GPL-2.0-only */\n")


def test_a_hand_edited_names_header_is_out_of_date(tmp_path: Path, monkeypatch) -> None:
    names = tmp_path / "pmt_names.h"
    names.write_text(cgen.render_names().replace('"bad CRC"', '"bad crc"'))
    monkeypatch.setattr(cgen, "NAMES_PATH", names)
    out = cgen.outputs()[-1]
    assert out.path == names and out.stale
    names.write_text(cgen.render_names())
    assert not cgen.outputs()[-1].stale


def test_names_header_names_every_value_in_order() -> None:
    text = cgen.render_names()
    rows = re.search(r"#define PMT_REJECT_NAMES \{ \\\n((?:\t.*\n)+)\}", text)[1].splitlines()
    assert rows == [f'\t"{r.name}", \\' for r in pmt.RejectReason]
    texts = re.search(r"#define PMT_REJECT_TEXTS \{ \\\n((?:\t.*\n)+)\}", text)[1].splitlines()
    assert texts == [f'\t"{spec.REJECT_REASON_TEXT[r]}", \\' for r in pmt.RejectReason]
    types = re.search(r"#define PMT_ENTRY_TYPE_NAMES \{ \\\n((?:\t.*\n)+)\}", text)[1]
    assert types.splitlines()[0] == "\tNULL, \\"  # no entry type 0


def test_c_name_tables_come_from_the_generated_header() -> None:
    """The firmware's and the payload tools' names are the generated ones, not copies."""
    top = cgen.REPO_ROOT
    users = {
        top / "payloads/common/pmtio.c": ("PMT_REJECT_NAMES", "PMT_ENTRY_TYPE_NAMES"),
        top / "coreboot-config/site-local/warmboot/pmt_common.c": ("PMT_REJECT_TEXTS",),
    }
    for path, macros in users.items():
        source = path.read_text()
        assert '#include "pmt_names.h"' in source, path
        for macro in macros:
            assert macro in source, (path, macro)
        for reason in pmt.RejectReason:
            for name in (reason.name, spec.REJECT_REASON_TEXT[reason]):
                if len(name) > 4:  # "none"/"NONE" are too common to search for
                    assert f'"{name}"' not in source, (path, name)
