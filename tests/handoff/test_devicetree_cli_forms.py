"""`warmboot handoff dts|dtb|cbrecord|efi`: each form from a PMT file."""

from __future__ import annotations

import json
import subprocess

from warmboot import pmt
from warmboot.handoff.cbtable import PmtRecord, decode_record
from warmboot.handoff.efi import WARMBOOT_PMT_TABLE_GUID, decode_config_table
from warmboot.pmt import EntryType, Pmt, PmtEntry

TABLE = Pmt(
    e_machine=pmt.EM_X86_64,
    cpu_count=1,
    table_addr=0x7000_0000,
    generation=3,
    entries=(
        PmtEntry(EntryType.TABLE, 0x7000_0000, 0x1000),
        PmtEntry(EntryType.PRESERVE, 0x7000_0000, 0x20_0000),
    ),
)


def pmt_files(tmp_path):
    binary, described = tmp_path / "pmt.bin", tmp_path / "pmt.json"
    binary.write_bytes(pmt.encode(TABLE))
    described.write_text(json.dumps(pmt.to_dict(TABLE)))
    return binary, described


def test_dts_from_bytes_and_from_json_are_the_same_and_compile(tmp_path, warmboot_main, capsys):
    outputs = []
    for source in pmt_files(tmp_path):
        assert warmboot_main(["handoff", "dts", str(source)]) == 0
        outputs.append(capsys.readouterr().out)
    assert outputs[0] == outputs[1]
    assert "warmboot-preserved@70000000 {" in outputs[0]
    compiled = subprocess.run(
        ["dtc", "-I", "dts", "-O", "dtb", "-o", "/dev/null", "-"],
        input=outputs[0].encode(),
        capture_output=True,
    )
    assert compiled.returncode == 0 and compiled.stderr == b""


def test_dtb_form_is_a_blob_dtc_reads(tmp_path, warmboot_main):
    binary, _ = pmt_files(tmp_path)
    out = tmp_path / "handoff.dtb"
    assert warmboot_main(["handoff", "dtb", str(binary), "-o", str(out)]) == 0
    dts = subprocess.run(
        ["dtc", "-I", "dtb", "-O", "dts", str(out)], capture_output=True, text=True, check=True
    ).stdout
    assert "warmboot,pmt = <0x00 0x70000000 0x00" in dts


def test_cbrecord_form_decodes_to_the_tables_location(tmp_path, warmboot_main):
    binary, _ = pmt_files(tmp_path)
    out = tmp_path / "record.bin"
    assert warmboot_main(["handoff", "cbrecord", str(binary), "-o", str(out)]) == 0
    assert decode_record(out.read_bytes()) == PmtRecord(
        0x7000_0000, TABLE.total_size, reject_entry=0, generation=3
    )


def test_efi_form_prints_and_writes_the_entry(tmp_path, warmboot_main, capsys):
    binary, _ = pmt_files(tmp_path)
    assert warmboot_main(["handoff", "efi", str(binary)]) == 0
    assert f"VendorGuid  {WARMBOOT_PMT_TABLE_GUID}" in capsys.readouterr().out
    out = tmp_path / "entry.bin"
    assert warmboot_main(["handoff", "efi", str(binary), "-o", str(out)]) == 0
    entry = decode_config_table(out.read_bytes())
    assert (entry.vendor_guid, entry.vendor_table) == (WARMBOOT_PMT_TABLE_GUID, 0x7000_0000)


def test_a_file_that_is_no_pmt_is_a_one_line_error(tmp_path, warmboot_main, capsys):
    junk = tmp_path / "junk"
    junk.write_bytes(b"\x00\x01 not a table")
    assert warmboot_main(["handoff", "dts", str(junk)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "neither a PMT nor its JSON description" in err
