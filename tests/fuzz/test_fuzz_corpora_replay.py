"""Replay every fuzz corpus (tests/fuzz/corpus/TARGET) through its harness, as
CI can without clang or atheris: the C harnesses are built with gcc, ASan and
UBSan and a plain main() (tests/fuzz/c/replay_main.c); the Python harnesses'
TestOneInput is called directly. A finding fixed since must stay fixed: its
input is in the corpus. Fuzzing itself is tests/fuzz/run (docs/fuzzing.md)."""

from __future__ import annotations

import importlib.util
import os
import subprocess
from pathlib import Path

import pytest

from targets import C_TARGETS, FUZZ, PY_TARGETS, c_flags, corpus_files

SANITIZERS = ["-fsanitize=address,undefined", "-fno-sanitize-recover=all"]


def test_every_target_has_a_corpus():
    for target in [*C_TARGETS, *PY_TARGETS]:
        assert corpus_files(target), f"tests/fuzz/corpus/{target} is empty"


@pytest.mark.parametrize("target", sorted(C_TARGETS))
def test_c_corpus_replays_clean(target, tmp_path):
    binary = tmp_path / f"replay_{target}"
    subprocess.run(
        [
            "gcc",
            "-std=gnu11",
            "-O1",
            "-g",
            "-Wall",
            "-Wextra",
            "-Werror",
            *SANITIZERS,
            *c_flags(target),
            "-o",
            str(binary),
            str(FUZZ / "c" / "replay_main.c"),
            *map(str, C_TARGETS[target]),
        ],
        check=True,
    )
    files = [str(p) for p in corpus_files(target)]
    env = dict(
        os.environ,
        TMPDIR=str(tmp_path),
        ASAN_OPTIONS="detect_leaks=1:abort_on_error=1",
        UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1",
    )
    result = subprocess.run(
        [str(binary), *files], capture_output=True, text=True, env=env, timeout=120
    )
    assert result.returncode == 0, result.stderr[-4000:]
    assert f"replayed {len(files)} inputs" in result.stdout


def _load(path: Path):
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("target", sorted(PY_TARGETS))
def test_python_corpus_replays_clean(target):
    harness = _load(PY_TARGETS[target])
    for path in corpus_files(target):
        try:
            harness.TestOneInput(path.read_bytes())
        except Exception as exc:  # a finding: name its input
            raise AssertionError(f"{target}: {path.name}: {exc!r}") from exc
