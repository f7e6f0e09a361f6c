"""kdump's `crashkernel=` as Debian's kdump-tools sets it, and what it reserves.

kdump-tools installs a GRUB snippet that appends `crashkernel=...` to every
kernel's command line. The benchmark reads that value from the pinned package
(the `kdump-tools` entry of coreboot-config/sources.lock.toml) rather than
copying it, boots kdump's guests with it verbatim, and evaluates the kernel's
range syntax (Documentation/admin-guide/kdump/kdump.rst:
`crashkernel=<start>-[<end>]:<size>[,...]`, a range matching when
start <= RAM < end) to chart and extrapolate the reservation for any RAM size.
"""

from __future__ import annotations

import re
from pathlib import Path

from warmboot.sources.cache import SourceCache
from warmboot.sources.lock import load_lock
from warmboot.sources.resolve import materialize

from .errors import BenchError

SOURCE = "kdump-tools"
GRUB_SNIPPET = "etc/default/grub.d/kdump-tools.cfg"
_UNITS = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}


def crashkernel_from_snippet(text: str) -> str:
    """The crashkernel= value a kdump-tools GRUB snippet appends."""
    found = re.findall(r"\bcrashkernel=([^\s\"']+)", text)
    if len(found) != 1:
        raise BenchError(
            f"kdump-tools' {GRUB_SNIPPET} sets crashkernel= {len(found)} times, expected once"
        )
    return found[0]


def debian_crashkernel(top: Path) -> str:
    """crashkernel= from the pinned kdump-tools package (fetched and verified once)."""
    lock = load_lock(top / "coreboot-config" / "sources.lock.toml")
    tree = materialize(lock.get(SOURCE), SourceCache()).path
    try:
        return crashkernel_from_snippet((tree / GRUB_SNIPPET).read_text())
    except FileNotFoundError:
        raise BenchError(f"the pinned {SOURCE} package has no {GRUB_SNIPPET}") from None


def parse_size(text: str) -> int:
    """The kernel's memparse: a number with an optional K, M, G or T suffix."""
    m = re.fullmatch(r"(\d+)([KMGT]?)", text.strip().upper())
    if not m:
        raise BenchError(f"{text!r} is not a size like 128M")
    return int(m.group(1)) * _UNITS[m.group(2)]


def crashkernel_bytes(spec: str, ram_bytes: int) -> int:
    """What crashkernel=spec reserves on a machine with ram_bytes of RAM:
    a plain size (`128M`, `128M@16M`), or the size of the first range that
    holds ram_bytes (0 when none does)."""
    if ":" not in spec:
        return parse_size(spec.split("@", 1)[0].split(",", 1)[0])
    for part in spec.split("@", 1)[0].split(","):
        if ":" not in part:
            raise BenchError(f"crashkernel={spec}: {part!r} is not <start>-[<end>]:<size>")
        span, size = part.split(":", 1)
        start, dash, end = span.partition("-")
        if not dash:
            raise BenchError(f"crashkernel={spec}: range {span!r} has no '-'")
        low = parse_size(start)
        high = parse_size(end) if end else None
        if high is not None and high <= low:
            raise BenchError(f"crashkernel={spec}: range {span!r} ends before it starts")
        if ram_bytes >= low and (high is None or ram_bytes < high):
            return parse_size(size)
    return 0
