"""Valid preserved-memory tables, built from any source of choices.

One builder serves two drivers: hypothesis (property tests, which shrink)
and a seeded random.Random (the deterministic C-vs-Python corpus), so both
test suites start from the same notion of "a valid table".
"""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Callable, Sequence
from typing import Protocol, TypeVar

from hypothesis import strategies as st

from warmboot import pmt
from warmboot.pmt import EntryType, Pmt, PmtEntry, PmtLimits

T = TypeVar("T")
PAGE = pmt.PAGE_SIZE
MIB = 1 << 20

# Firmware memory the corpus validator is told about: the low megabyte
# (real-mode and early-stage memory, which BOOT_COPY exists for) and a
# CBMEM/SMRAM-like block below 2 GiB.
FIRMWARE_RANGES = ((0, MIB), (0x7F000000, 16 * MIB))
FIRMWARE_LIMITS = PmtLimits(firmware_ranges=FIRMWARE_RANGES)


class Draw(Protocol):
    def integer(self, lo: int, hi: int) -> int: ...
    def permutation(self, items: Sequence[T]) -> list[T]: ...


class RandomDraw:
    def __init__(self, rng: random.Random) -> None:
        self.rng = rng

    def integer(self, lo: int, hi: int) -> int:
        return self.rng.randint(lo, hi)

    def permutation(self, items: Sequence[T]) -> list[T]:
        out = list(items)
        self.rng.shuffle(out)
        return out


class HypothesisDraw:
    def __init__(self, draw: Callable[[st.SearchStrategy[T]], T]) -> None:
        self.draw = draw

    def integer(self, lo: int, hi: int) -> int:
        return self.draw(st.integers(lo, hi))

    def permutation(self, items: Sequence[T]) -> list[T]:
        return list(self.draw(st.permutations(list(items))))


def _u64(d: Draw) -> int:
    return d.integer(0, (1 << 64) - 1)


def _extra(d: Draw, max_words: int) -> bytes:
    return bytes(d.integer(0, 255) for _ in range(8 * d.integer(0, max_words)))


def _pages(nbytes: int) -> int:
    return -(-nbytes // PAGE) * PAGE


def build_valid_table(d: Draw) -> Pmt:
    """A table every rule accepts, with both DEFAULT_LIMITS and FIRMWARE_LIMITS:
    PRESERVE regions and BOOT_COPY dests above 1 MiB, BOOT_COPY sources in the
    low megabyte, metadata objects packed into the first PRESERVE region (or,
    for notes, sometimes into a BOOT_COPY source)."""
    e_machine = pmt.EM_X86_64 if d.integer(0, 1) else pmt.EM_AARCH64
    cpu_count = d.integer(1, 12)
    record_size = pmt.CPU_RECORD_SIZE + 8 * d.integer(0, 2) * d.integer(0, 1)
    entry_extra = _extra(d, 1) if d.integer(0, 3) == 0 else b""

    # Low memory: BOOT_COPY sources, page-aligned, disjoint.
    low = d.integer(0, 16) * PAGE
    sources = []
    for _ in range(d.integer(0, 3)):
        size = d.integer(1, 16) * PAGE
        sources.append((low, size))
        low += size + d.integer(0, 4) * PAGE

    has_cpu_state = d.integer(0, 4) > 0
    has_vmcoreinfo = d.integer(0, 4) > 0
    notes_cpus = d.permutation(range(cpu_count))[: d.integer(0, cpu_count)]
    # Objects: (type, size, cpu); notes may go into a BOOT_COPY source.
    state_size = _pages(cpu_count * record_size) + d.integer(0, 1) * PAGE
    notes = [(EntryType.CRASH_NOTES, 4 * d.integer(0x40, 0x120), cpu) for cpu in notes_cpus]
    if has_vmcoreinfo:
        notes.append((EntryType.VMCOREINFO, 4 * d.integer(1, 0x400), 0))

    entries: list[PmtEntry] = []
    # A note in a BOOT_COPY source when there is room, else in P0.
    in_p0 = []
    source_fill = {i: 0 for i in range(len(sources))}
    for kind, size, cpu in notes:
        if sources and d.integer(0, 3) == 0:
            i = d.integer(0, len(sources) - 1)
            base, span = sources[i]
            at = source_fill[i] + 4 * d.integer(0, 8)
            if at + size <= span:
                entries.append(PmtEntry(kind, base + at, size, cpu=cpu, extra=entry_extra))
                source_fill[i] = at + size
                continue
        in_p0.append((kind, size, cpu))

    n_preserve = d.integer(1, 4)
    n_entries = len(notes) + len(sources) + n_preserve + 2 + has_cpu_state
    table_bytes = pmt.HEADER_SIZE + 8 * 3 + n_entries * (pmt.ENTRY_SIZE + len(entry_extra)) + 8 * 2
    table_span = _pages(table_bytes) + d.integer(0, 1) * PAGE

    # P0 holds the table, CPU_STATE and the remaining notes, one after another.
    high = MIB + d.integer(0, 64) * PAGE
    p0_base = high
    cursor = p0_base + d.integer(0, 2) * PAGE
    table_entry = PmtEntry(EntryType.TABLE, cursor, table_span, extra=entry_extra)
    cursor += table_span + d.integer(0, 1) * PAGE
    cpu_state = None
    if has_cpu_state:
        cpu_state = PmtEntry(EntryType.CPU_STATE, cursor, state_size, extra=entry_extra)
        cursor += state_size
    for kind, size, cpu in in_p0:
        cursor += 4 * d.integer(0, 16)
        entries.append(PmtEntry(kind, cursor, size, cpu=cpu, extra=entry_extra))
        cursor += size
    p0_size = _pages(cursor - p0_base) + d.integer(0, 8) * PAGE
    entries += [table_entry] + ([cpu_state] if cpu_state else [])
    entries.append(PmtEntry(EntryType.PRESERVE, p0_base, p0_size, extra=entry_extra))
    high = p0_base + p0_size + d.integer(0, 8) * PAGE

    at_top = False
    for _ in range(n_preserve - 1):
        size = d.integer(1, 256) * PAGE
        if not at_top and d.integer(0, 7) == 0:
            at_top = True
            # A region ending exactly at 2**64 is legal (its last byte is 2**64-1).
            entries.append(PmtEntry(EntryType.PRESERVE, (1 << 64) - size, size, extra=entry_extra))
            continue
        entries.append(PmtEntry(EntryType.PRESERVE, high, size, extra=entry_extra))
        high += size + d.integer(0, 8) * PAGE
    for base, size in sources:
        entries.append(PmtEntry(EntryType.BOOT_COPY, base, size, dest=high, extra=entry_extra))
        high += size + d.integer(0, 4) * PAGE

    # Firmware-owned fields hold anything; readers must not care.
    entries = [dataclasses.replace(e, fw_status=d.integer(0, 0xFFFF)) for e in entries]
    entries = d.permutation(entries)
    draft = Pmt(
        e_machine=e_machine,
        cpu_count=cpu_count,
        table_addr=0,
        entries=tuple(entries),
        generation=_u64(d),
        flags=pmt.PmtFlags(d.integer(0, 0xFFFFFFFF)),
        arm_cookie=_u64(d),
        cpu_record_size=record_size,
        vmcoreinfo_addr=0,
        vmcoreinfo_size=0,
        cpu_state_addr=cpu_state.base if cpu_state else 0,
        cpu_state_size=cpu_state.size if cpu_state else 0,
        minor=d.integer(0, 3),
        reject_reason=d.integer(0, 0xFFFF),
        reset_cause=d.integer(0, 0xFFFF),
        reject_entry=d.integer(0, 0xFFFFFFFF),
        boot_count=d.integer(0, 0xFFFFFFFF),
        fw_reserved=_u64(d),
        header_extra=_extra(d, 3),
        trailer=_extra(d, 2),
    )
    vmcoreinfo = next((e for e in entries if e.type == EntryType.VMCOREINFO), None)
    slack = table_entry.size - draft.total_size
    assert slack >= 0, "the TABLE entry was sized too small"
    return dataclasses.replace(
        draft,
        table_addr=table_entry.base + 8 * d.integer(0, slack // 8),
        vmcoreinfo_addr=vmcoreinfo.base if vmcoreinfo else 0,
        vmcoreinfo_size=vmcoreinfo.size if vmcoreinfo else 0,
    )


@st.composite
def valid_tables(draw: Callable[[st.SearchStrategy[T]], T]) -> Pmt:
    return build_valid_table(HypothesisDraw(draw))


def random_valid_table(rng: random.Random) -> Pmt:
    return build_valid_table(RandomDraw(rng))


# A table laid out as pmtctl arms it in a 1 GiB q35 guest (anchor, boot
# window and CMA destination as firmware advertises them): the firmware-rule
# tests (test_firmware_rules.py) and the fuzz seeds start from it.
Q35_ANCHOR = 0x3FECE000
Q35_BOOT_WINDOW = (0x100000, 0x4F00000)
Q35_COOKIE = 0x1122334455667788


def q35_armed_table() -> Pmt:
    cpu_state = Q35_ANCHOR + 0x8000
    entries = (
        PmtEntry(EntryType.PRESERVE, 0x5000000, 0xB000000),
        PmtEntry(EntryType.BOOT_COPY, *Q35_BOOT_WINDOW, dest=0x10000000),
        PmtEntry(EntryType.PRESERVE, 0x15000000, 0x2AE00000),
        PmtEntry(EntryType.PRESERVE, Q35_ANCHOR, 0x10000),
        PmtEntry(EntryType.TABLE, Q35_ANCHOR, 0x1000),
        PmtEntry(EntryType.CPU_STATE, cpu_state, 0x1000),
        PmtEntry(EntryType.VMCOREINFO, 0x6000000, 0x1000),
        PmtEntry(EntryType.CRASH_NOTES, 0x7000000, 0x400, cpu=0),
        PmtEntry(EntryType.CRASH_NOTES, 0x7001000, 0x400, cpu=1),
    )
    return Pmt(
        entries=entries,
        e_machine=62,
        cpu_count=2,
        table_addr=Q35_ANCHOR,
        arm_cookie=Q35_COOKIE,
        vmcoreinfo_addr=0x6000000,
        vmcoreinfo_size=0x1000,
        cpu_state_addr=cpu_state,
        cpu_state_size=0x1000,
        flags=pmt.PmtFlags.ARMED,
    )
