#!/usr/bin/env python3
"""atheris harness: what `warmboot-lab` parses from files and programs.

The first byte picks the parser: the TOML lab configuration, a place's
journal (the record of its last flash, read back before every run) or
flashrom's probe output. Each may refuse its input only with the lab's
own error types (LabError: ConfigError, StorageError, BoardIdentityError);
any other exception is a bug. Replayed without atheris in CI
(TestOneInput is plain Python).
"""

from __future__ import annotations

import atexit
import os
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from atheris_harness import dispatch, fuzz

PARSERS: tuple = ()
LabError: type = Exception
_DIR: Path | None = None


def load() -> None:
    """Import the parsers (under atheris: inside its instrumentation)."""
    global PARSERS, LabError, _DIR
    from warmboot.lab.config import parse_lab_config
    from warmboot.lab.errors import LabError as error
    from warmboot.lab.flashrom import parse_probe_output, select_chip
    from warmboot.lab.journal import load_journal

    _DIR = Path(tempfile.mkdtemp(prefix="fuzz-lab-"))
    atexit.register(shutil.rmtree, _DIR, True)
    journal_path = _DIR / "bench.json"

    def config(data: bytes) -> None:
        parse_lab_config(data.decode("utf-8", errors="replace"), _DIR / "lab.toml")

    def journal(data: bytes) -> None:
        journal_path.write_bytes(data)
        loaded = load_journal(journal_path, "bench")
        loaded.describe()
        loaded.as_json()

    def probe(data: bytes) -> None:
        found = parse_probe_output(data.decode("utf-8", errors="replace"))
        for chip in found:
            chip.describe()
        select_chip(found, "W25Q128.V", 16 << 20)

    LabError = error
    PARSERS = (config, journal, probe)


def TestOneInput(data: bytes) -> None:
    if not PARSERS:
        load()
    dispatch(PARSERS, LabError, data)


if __name__ == "__main__":
    fuzz(load, TestOneInput)
