"""`warmboot pmt encode | decode | validate`, run as a user would: good
tables round-trip through JSON, bad input gets one line and exit 1."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from test_pmt_rules_reject_with_reason import BASE
from warmboot import pmt


def warmboot(*args: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "warmboot.cli", *map(str, args)],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=60,
    )


def assert_one_line_error(result: subprocess.CompletedProcess[str], *words: str) -> None:
    assert result.returncode == 1, result
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("warmboot: error: "), result.stderr
    for word in words:
        assert word in lines[0]


@pytest.fixture
def table_json(tmp_path: Path) -> Path:
    path = tmp_path / "table.json"
    path.write_text(json.dumps(pmt.to_dict(BASE), indent=2))
    return path


def test_encode_decode_round_trip(tmp_path: Path, table_json: Path) -> None:
    out = tmp_path / "table.bin"
    encoded = warmboot("pmt", "encode", table_json, "-o", out, cwd=tmp_path)
    assert encoded.returncode == 0, encoded.stderr
    assert out.read_bytes() == pmt.encode(BASE)

    as_json = warmboot("pmt", "decode", out, "--json", cwd=tmp_path)
    assert as_json.returncode == 0, as_json.stderr
    assert pmt.from_dict(json.loads(as_json.stdout)) == BASE
    assert json.loads(as_json.stdout) == json.loads(table_json.read_text())

    readable = warmboot("pmt", "decode", out, cwd=tmp_path)
    assert readable.returncode == 0
    assert "flags:       ARMED" in readable.stdout
    assert "BOOT_COPY" in readable.stdout and "0x200000" in readable.stdout
    assert len(readable.stdout.splitlines()) == 9 + len(BASE.entries)


def test_validate_prints_ok_or_the_reason(tmp_path: Path) -> None:
    good = tmp_path / "good.bin"
    good.write_bytes(pmt.encode(BASE))
    ok = warmboot("pmt", "validate", good, cwd=tmp_path)
    assert ok.returncode == 0 and ok.stdout.startswith("OK: PMT v1.0, 8 entries")

    rejected = warmboot(
        "pmt",
        "validate",
        good,
        "--firmware-range",
        "0x7F000000:0x1000000",
        "--firmware-range",
        "0x300000:0x1000",
        cwd=tmp_path,
    )
    assert rejected.returncode == 1
    assert rejected.stdout.startswith("PMT rejected: PRESERVE_IN_FIRMWARE (14): entry 7")

    stale = warmboot("pmt", "validate", good, "--arm-cookie", "0x99", cwd=tmp_path)
    assert stale.returncode == 1 and "STALE" in stale.stdout

    damaged = tmp_path / "damaged.bin"
    damaged.write_bytes(pmt.encode(BASE)[:-1] + b"\xff")
    assert "BAD_CRC" in warmboot("pmt", "validate", damaged, cwd=tmp_path).stdout


def test_encode_refuses_a_table_that_breaks_the_rules(tmp_path: Path) -> None:
    broken = pmt.to_dict(BASE)
    broken["entries"][7]["size"] = "0x0"
    source = tmp_path / "broken.json"
    source.write_text(json.dumps(broken))
    out = tmp_path / "broken.bin"
    assert_one_line_error(
        warmboot("pmt", "encode", source, "-o", out, cwd=tmp_path), "ZERO_SIZE", "entry 7"
    )
    assert not out.exists()
    forced = warmboot("pmt", "encode", source, "-o", out, "--no-validate", cwd=tmp_path)
    assert forced.returncode == 0 and out.exists()


@pytest.mark.parametrize(
    "content, words",
    [
        ("{", ("not valid JSON",)),
        ("[]", ("JSON object",)),
        ('{"e_machine": "x86_64"}', ("missing",)),
        ('{"e_machine": 62, "cpu_count": 1, "table_addr": "0xZZ", "entries": []}', ("table_addr",)),
        (
            '{"e_machine": 62, "cpu_count": 1, "table_addr": 0, "entries": [], "colour": 1}',
            ("unknown keys",),
        ),
        (
            '{"e_machine": 62, "cpu_count": 1, "table_addr": 0, "entries": [{"type": "NOPE",'
            ' "base": 0, "size": 1}]}',
            ("entries[0].type",),
        ),
        ('{"e_machine": 62, "cpu_count": 70000, "table_addr": 0, "entries": []}', ("cpu_count",)),
        (
            '{"e_machine": 62, "cpu_count": 1, "table_addr": 0, "entries": [], "flags": ["LOUD"]}',
            ("unknown flag",),
        ),
    ],
)
def test_bad_json_is_a_one_line_error(tmp_path: Path, content: str, words: tuple[str, ...]) -> None:
    source = tmp_path / "bad.json"
    source.write_text(content)
    assert_one_line_error(
        warmboot("pmt", "encode", source, "-o", tmp_path / "x.bin", cwd=tmp_path), *words
    )


def test_missing_and_bad_files_are_one_line_errors(tmp_path: Path) -> None:
    missing = tmp_path / "missing.bin"
    for action in ("decode", "validate"):
        assert_one_line_error(
            warmboot("pmt", action, missing, cwd=tmp_path), "cannot read", "missing.bin"
        )
    assert_one_line_error(
        warmboot("pmt", "encode", missing, "-o", "x", cwd=tmp_path), "cannot read"
    )
    junk = tmp_path / "junk.bin"
    junk.write_bytes(b"not a table at all")
    assert_one_line_error(warmboot("pmt", "decode", junk, cwd=tmp_path), "BAD_MAGIC")
    assert_one_line_error(warmboot("pmt", "decode", tmp_path, cwd=tmp_path), "cannot read")


def test_bad_options_are_usage_errors(tmp_path: Path) -> None:
    result = warmboot("pmt", "validate", "x.bin", "--firmware-range", "12", cwd=tmp_path)
    assert result.returncode == 2 and "BASE:SIZE" in result.stderr
    assert "Traceback" not in result.stderr
    neg = warmboot("pmt", "validate", "x.bin", "--firmware-range", "0:0", cwd=tmp_path)
    assert_one_line_error(neg, "firmware range")
