"""The C validator and warmboot.pmt give the same verdict on every table of a
seeded corpus of valid and broken PMTs: accept or reject, the reject reason,
the offending entry, and every decoded field of accepted tables."""

from __future__ import annotations

import collections
import subprocess
from pathlib import Path

import pytest

from pmt_corpus import Case, corpus, harness_input, python_verdict
from test_pmt_rules_reject_with_reason import ACCEPTED, CASES
from warmboot import pmt
from warmboot.pmt import RejectReason

HERE = Path(__file__).resolve().parent
LIBPMT = HERE.parents[1] / "payloads" / "libpmt"
CORPUS_SIZE = 12_000
CORPUS_SEED = 0x504D54  # "PMT"
SANITIZERS = ["-fsanitize=address,undefined", "-fno-sanitize-recover=all"]


def _compiles(tmp: Path, flags: list[str]) -> bool:
    probe = tmp / "probe.c"
    probe.write_text("int main(void) { return 0; }\n")
    return (
        subprocess.run(
            ["gcc", *flags, str(probe), "-o", str(tmp / "probe")], capture_output=True
        ).returncode
        == 0
    )


@pytest.fixture(scope="module")
def harness(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The validator and a stdin-driven harness, built for the host; under
    ASan/UBSan when the toolchain has them, so an out-of-bounds read fails."""
    tmp = tmp_path_factory.mktemp("pmt-harness")
    exe = tmp / "pmt_harness"
    sanitize = SANITIZERS if _compiles(tmp, SANITIZERS) else []
    build = subprocess.run(
        [
            "gcc",
            "-std=c11",
            "-O1",
            "-g",
            "-Wall",
            "-Wextra",
            "-Werror",
            *sanitize,
            "-I",
            str(LIBPMT),
            str(HERE / "pmt_harness.c"),
            str(LIBPMT / "pmt_validate.c"),
            "-o",
            str(exe),
        ],
        capture_output=True,
        text=True,
    )
    assert build.returncode == 0, build.stderr
    return exe


def run_both(harness: Path, cases: list[Case]) -> tuple[list[str], list[str]]:
    result = subprocess.run(
        [str(harness)], input=harness_input(cases), capture_output=True, timeout=300
    )
    assert result.returncode == 0, result.stderr.decode(errors="replace")[-2000:]
    c_lines = result.stdout.decode().splitlines()
    assert len(c_lines) == len(cases)
    return [python_verdict(data, limits) for data, limits, _ in cases], c_lines


def disagreements(cases: list[Case], py: list[str], c: list[str]) -> list[str]:
    return [
        f"case {i} ({cases[i][2]}, {len(cases[i][0])} bytes):\n  python: {p[:200]}\n"
        f"  C:      {q[:200]}"
        for i, (p, q) in enumerate(zip(py, c, strict=True))
        if p != q
    ]


def test_c_and_python_agree_on_the_corpus(harness: Path) -> None:
    cases = list(corpus(CORPUS_SIZE, CORPUS_SEED))
    py, c = run_both(harness, cases)
    wrong = disagreements(cases, py, c)
    verdicts = collections.Counter(
        "ACCEPT" if line.startswith("OK") else RejectReason(int(line.split()[1])).name
        for line in py
    )
    summary = f"{len(cases) - len(wrong)}/{len(cases)} tables agree; verdicts: " + ", ".join(
        f"{k} {v}" for k, v in verdicts.most_common()
    )
    print(summary)
    assert not wrong, summary + "\n" + "\n".join(wrong[:10])
    # The corpus is only evidence if it reaches every rule and many accepts.
    assert len(cases) >= 10_000
    assert set(verdicts) == {"ACCEPT"} | {r.name for r in RejectReason if r != RejectReason.NONE}
    assert verdicts["ACCEPT"] >= 1000


def test_c_and_python_agree_on_the_hand_written_cases(harness: Path) -> None:
    cases: list[Case] = []
    for name, table, limits, _, _ in CASES:
        cases.append((pmt.encode(table) if isinstance(table, pmt.Pmt) else table, limits, name))
    for name, table, limits in ACCEPTED:
        cases.append((pmt.encode(table), limits, name))
    py, c = run_both(harness, cases)
    assert not disagreements(cases, py, c), "\n".join(disagreements(cases, py, c))
