"""Run readelf and gdb on a core file and parse what they report."""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

ENV = {"LC_ALL": "C", "PATH": "/usr/bin:/bin"}


def run(cmd: list[str], timeout: int = 60) -> str:
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=ENV)
    assert result.returncode == 0, f"{cmd[0]} failed: {result.stderr}"
    return result.stdout


@dataclass(frozen=True)
class ReadelfSegment:
    type: str
    offset: int
    vaddr: int
    paddr: int
    filesz: int
    memsz: int
    align: int


@dataclass(frozen=True)
class ReadelfNote:
    owner: str
    size: int
    description: str
    data: bytes


def readelf_segments(core: Path) -> list[ReadelfSegment]:
    segments = []
    for line in run(["readelf", "-lW", str(core)]).splitlines():
        m = re.match(
            r"\s+(NOTE|LOAD)\s+(0x\w+)\s+(0x\w+)\s+(0x\w+)\s+(0x\w+)\s+(0x\w+)"
            r"\s+\D*?(0x\w+|\d+)\s*$",
            line,
        )
        if m:  # readelf prints an alignment of 0 as "0"
            segments.append(ReadelfSegment(m[1], *(int(v, 0) for v in m.groups()[1:])))
    return segments


def readelf_notes(core: Path) -> list[ReadelfNote]:
    notes: list[ReadelfNote] = []
    for line in run(["readelf", "-nW", str(core)]).splitlines():
        # -W puts an unknown note's "description data: xx xx" on its own line.
        m = re.match(r"\s+(\S+)\s+(0x[0-9a-f]+)\s+(.*?)(?:\s+description data:\s*(.*))?$", line)
        if m and m[1] != "Owner":
            data = bytes.fromhex(m[4].replace(" ", "")) if m[4] else b""
            notes.append(ReadelfNote(m[1], int(m[2], 16), m[3].strip(), data))
    return notes


def gdb_for(e_machine: int) -> str:
    """gdb that understands the core's machine (Debian's gdb is native only)."""
    if e_machine == 62:
        return "gdb"
    gdb = shutil.which("gdb-multiarch")
    if gdb is None:
        pytest.skip("aarch64 cores need gdb-multiarch (Debian package gdb-multiarch)")
    return gdb


def gdb_thread_registers(
    core: Path, e_machine: int, names: tuple[str, ...]
) -> dict[int, dict[str, int]]:
    """{LWP: {register: value}} for every thread gdb finds in the core."""
    out = run(
        [
            gdb_for(e_machine),
            "-batch",
            "-nx",
            "-c",
            str(core),
            "-ex",
            "thread apply all info registers " + " ".join(names),
        ]
    )
    threads: dict[int, dict[str, int]] = {}
    current = None
    for line in out.splitlines():
        t = re.match(r"Thread \d+ \(LWP (\d+)\)", line)
        if t:
            current = threads.setdefault(int(t[1]), {})
            continue
        r = re.match(r"(\w+)\s+(0x[0-9a-f]+)", line)
        if r and current is not None and r[1] in names:
            current[r[1]] = int(r[2], 16)
    return threads
