"""A deterministic corpus of PMTs, valid and broken, for comparing validators.

Each case is (table bytes, limits, mutation name). Mutations aim at every
rule: raw bit and byte damage (mostly caught by the CRC), the same damage
re-sealed with a fresh CRC (so the later rules see it), field tweaks to edge
values, truncation, and model-level edits that break one rule on purpose.
"""

from __future__ import annotations

import dataclasses
import random
import struct
from collections.abc import Callable, Iterator

from pmt_samples import FIRMWARE_LIMITS, FIRMWARE_RANGES, MIB, PAGE, random_valid_table
from warmboot import pmt
from warmboot.pmt import EntryType, Pmt, PmtLimits, spec

Case = tuple[bytes, PmtLimits, str]
U64 = (1 << 64) - 1


def reseal(data: bytes) -> bytes:
    """The bytes with a correct CRC, when the header's sizes allow one."""
    if len(data) < pmt.HEADER_SIZE or data[:8] != pmt.MAGIC:
        return data
    h = spec.HEADER.unpack(data)
    if not (
        h["header_size"] >= pmt.HEADER_SIZE
        and h["entry_size"] >= pmt.ENTRY_SIZE
        and h["header_size"] + h["entry_count"] * h["entry_size"] <= h["total_size"] <= len(data)
    ):
        return data
    out = bytearray(data)
    struct.pack_into("<I", out, spec.HEADER.offsets["crc32"], pmt.compute_crc(data))
    return bytes(out)


def edge_value(rng: random.Random, original: int, bits: int) -> int:
    top = (1 << bits) - 1
    choices = (
        0,
        1,
        4,
        7,
        8,
        PAGE - 1,
        PAGE,
        top,
        top - 1,
        top - PAGE + 1,
        original + 1,
        original - 1,
        original + 4,
        original + PAGE,
        original - PAGE,
        original ^ (1 << rng.randrange(bits)),
        rng.getrandbits(bits),
    )
    return rng.choice(choices) & top


def _field_tweak(rng: random.Random, data: bytes, layout: spec.Layout, at: int) -> bytes:
    f = rng.choice([f for f in layout.fields if f.kind != "u8"])
    bits = 8 * f.item_size
    off = at + layout.offsets[f.name] + 8 * rng.randrange(f.count) * (f.count > 1)
    fmt = "<" + f.item_format
    out = bytearray(data)
    (old,) = struct.unpack_from(fmt, out, off)
    struct.pack_into(fmt, out, off, edge_value(rng, old, bits))
    return bytes(out)


def _entries(table: Pmt, kind: EntryType) -> list[int]:
    return [i for i, e in enumerate(table.entries) if e.type == kind]


def _with_entry(table: Pmt, i: int, **changes: int) -> Pmt:
    entries = list(table.entries)
    entries[i] = dataclasses.replace(entries[i], **changes)
    return dataclasses.replace(table, entries=tuple(entries))


def _free_high(table: Pmt) -> int:
    """An address above 1 MiB that no entry touches."""
    top = max(
        (max(e.base, e.dest) + e.size for e in table.entries if e.base + e.size < 1 << 40),
        default=MIB,
    )
    return (top + 16 * PAGE + PAGE - 1) // PAGE * PAGE


def _model_edit(rng: random.Random, table: Pmt) -> tuple[Pmt, PmtLimits]:
    """Break (usually exactly) one rule at the model level."""
    limits = rng.choice((pmt.DEFAULT_LIMITS, FIRMWARE_LIMITS))
    n = len(table.entries)
    edit = rng.randrange(18)
    preserve = _entries(table, EntryType.PRESERVE)
    copies = _entries(table, EntryType.BOOT_COPY)
    if edit == 0 and preserve:
        i = rng.choice(preserve)
        return _with_entry(table, i, base=rng.randrange(0, MIB // PAGE) * PAGE), FIRMWARE_LIMITS
    if edit == 1 and copies:
        i = rng.choice(copies)
        return _with_entry(table, i, dest=FIRMWARE_RANGES[1][0] + PAGE), FIRMWARE_LIMITS
    if edit == 2 and table.cpu_state_size:
        i = _entries(table, EntryType.CPU_STATE)[0]
        base = rng.choice(
            (
                _free_high(table),
                table.entries[copies[0]].base if copies else 0,
                FIRMWARE_RANGES[1][0],
            )
        )
        moved = _with_entry(table, i, base=base)
        return dataclasses.replace(moved, cpu_state_addr=base), limits
    if edit == 3:
        i = rng.randrange(n)
        entries = list(table.entries)
        entries.insert(rng.randrange(n + 1), table.entries[i])
        return dataclasses.replace(table, entries=tuple(entries)), limits
    if edit == 4:
        entries = list(table.entries)
        del entries[rng.randrange(n)]
        return dataclasses.replace(table, entries=tuple(entries)), limits
    if edit == 5:
        delta = rng.choice((-8, 8, -PAGE, PAGE, 1 << 40, -table.table_addr))
        return dataclasses.replace(table, table_addr=(table.table_addr + delta) & U64), limits
    if edit == 6 and copies:
        i = rng.choice(copies)
        target = rng.choice(table.entries)
        dest = rng.choice((target.base, target.dest, target.base + PAGE))
        return _with_entry(table, i, dest=dest), limits
    if edit == 7 and table.vmcoreinfo_size:
        i = _entries(table, EntryType.VMCOREINFO)[0]
        base = _free_high(table)
        moved = _with_entry(table, i, base=base)
        return dataclasses.replace(moved, vmcoreinfo_addr=base), limits
    if edit == 8:
        i = rng.randrange(n)
        e = table.entries[i]
        shift = rng.choice((PAGE, -PAGE, 4, e.size // 2 // PAGE * PAGE))
        extra = dataclasses.replace(e, base=(e.base + shift) & U64)
        return dataclasses.replace(table, entries=(*table.entries, extra)), limits
    if edit == 9:
        field = rng.choice(
            ("vmcoreinfo_addr", "vmcoreinfo_size", "cpu_state_addr", "cpu_state_size")
        )
        value = (getattr(table, field) + rng.choice((4, -4, PAGE, 0 - getattr(table, field)))) & U64
        return dataclasses.replace(table, **{field: value}), limits
    if edit == 10:
        return dataclasses.replace(
            table,
            cpu_count=rng.choice((0, 1, table.cpu_count - 1, table.cpu_count * 4, 0xFFFF)) & 0xFFFF,
        ), limits
    if edit == 11:
        return table, dataclasses.replace(limits, max_entries=rng.randrange(n + 1))
    if edit == 12:
        cookie = rng.choice((table.arm_cookie, table.arm_cookie ^ 1, 1))
        return table, dataclasses.replace(limits, arm_cookie=cookie or 1)
    if edit == 13:
        return table, dataclasses.replace(limits, max_cpus=rng.randrange(table.cpu_count + 1))
    if edit == 14:
        return dataclasses.replace(table, e_machine=rng.choice((0, 3, 40, 62, 183, 243))), limits
    if edit == 15:
        i = rng.randrange(n)
        e = table.entries[i]
        change = rng.choice(
            (
                dict(size=0),
                dict(base=(e.base + 4) & U64),
                dict(size=e.size + 2),
                dict(base=U64 - PAGE + 1 - rng.choice((0, PAGE)), size=2 * PAGE),
                dict(dest=rng.choice((0, PAGE, U64 - PAGE + 1))),
                dict(type=rng.choice((0, 7, 0xFFFF))),
                dict(cpu=rng.choice((table.cpu_count, 0xFFFFFFFF))),
            )
        )
        return _with_entry(table, i, **change), limits
    if edit == 16:
        return dataclasses.replace(table, major=rng.choice((0, 2, 0xFFFF))), limits
    # A firmware range over, or just touching, or just missing, something
    # the OS wants kept: the one-byte cases pin down inclusive range ends.
    e = rng.choice(table.entries)
    base, size = (e.dest, e.size) if e.dest and rng.randrange(2) else (e.base, e.size)
    last = base + size - 1
    k = rng.choice((1, 3, PAGE))
    candidates = [(base, size), (last, 1), (base, 1)]
    if base >= k:
        candidates += [(base - k, k), (base - k, k + 1)]
    if last + k < 1 << 64:
        candidates += [(last + 1, k), (last, k)]
    ranges = (*limits.firmware_ranges, rng.choice(candidates))
    return table, dataclasses.replace(limits, firmware_ranges=ranges)


def _case(rng: random.Random) -> Case:
    table = random_valid_table(rng)
    data = pmt.encode(table)
    limits = rng.choice(
        (
            pmt.DEFAULT_LIMITS,
            FIRMWARE_LIMITS,
            dataclasses.replace(FIRMWARE_LIMITS, arm_cookie=table.arm_cookie or 1),
        )
    )
    kind = rng.choices(
        (
            "valid",
            "bitflip",
            "bitflip-resealed",
            "byte",
            "truncate",
            "extend",
            "header-field",
            "entry-field",
            "model",
            "garbage",
        ),
        weights=(12, 8, 12, 6, 4, 3, 12, 12, 28, 3),
    )[0]
    if kind == "valid":
        return data, limits, kind
    if kind in ("bitflip", "bitflip-resealed"):
        bit = rng.randrange(8 * len(data))
        out = bytearray(data)
        out[bit // 8] ^= 1 << (bit % 8)
        return (reseal(bytes(out)) if kind == "bitflip-resealed" else bytes(out)), limits, kind
    if kind == "byte":
        out = bytearray(data)
        out[rng.randrange(len(out))] = rng.randrange(256)
        return (reseal(bytes(out)) if rng.randrange(2) else bytes(out)), limits, kind
    if kind == "truncate":
        cut = rng.choice(
            (
                rng.randrange(len(data)),
                rng.randrange(pmt.HEADER_SIZE + 1),
                len(data) - rng.randrange(1, 9),
            )
        )
        return data[:cut], limits, kind
    if kind == "extend":
        return data + bytes(rng.randrange(256) for _ in range(rng.randrange(1, 64))), limits, kind
    if kind == "header-field":
        return reseal(_field_tweak(rng, data, spec.HEADER, 0)), limits, kind
    if kind == "entry-field":
        i = rng.randrange(len(table.entries))
        at = table.header_size + i * table.entry_size
        return reseal(_field_tweak(rng, data, spec.ENTRY, at)), limits, kind
    if kind == "model":
        edited, limits = _model_edit(rng, table)
        return pmt.encode(edited), limits, kind
    body = bytes(rng.randrange(256) for _ in range(rng.randrange(200)))
    return (pmt.MAGIC + body if rng.randrange(2) else body), limits, kind


def corpus(size: int, seed: int) -> Iterator[Case]:
    rng = random.Random(seed)
    for _ in range(size):
        yield _case(rng)


def harness_input(cases: list[Case]) -> bytes:
    """The harness's stdin: one length-prefixed record per case."""
    parts = []
    for data, limits, _ in cases:
        parts.append(
            struct.pack(
                "<IIQI",
                limits.max_entries,
                limits.max_cpus,
                limits.arm_cookie,
                len(limits.firmware_ranges),
            )
        )
        parts += [struct.pack("<QQ", b, s) for b, s in limits.firmware_ranges]
        parts += [struct.pack("<I", len(data)), data]
    return b"".join(parts)


def python_verdict(data: bytes, limits: PmtLimits) -> str:
    """What the harness prints for a case, computed by warmboot.pmt."""
    try:
        t = pmt.decode(data, limits)
    except pmt.PmtError as exc:
        assert exc.reason is not None
        return f"REJECT {int(exc.reason)} {pmt.NO_ENTRY if exc.entry is None else exc.entry}"
    header = (
        t.major,
        t.minor,
        t.header_size,
        t.entry_size,
        len(t.entries),
        t.total_size,
        pmt.compute_crc(data),
        t.generation,
        int(t.flags),
        t.reject_reason,
        t.reset_cause,
        t.reject_entry,
        t.boot_count,
        t.fw_reserved,
        t.e_machine,
        t.cpu_count,
        t.cpu_record_size,
        t.table_addr,
        t.arm_cookie,
        t.vmcoreinfo_addr,
        t.vmcoreinfo_size,
        t.cpu_state_addr,
        t.cpu_state_size,
    )
    line = "OK " + " ".join(f"{v:x}" for v in header)
    for e in t.entries:
        line += " | " + " ".join(
            f"{v:x}" for v in (e.base, e.size, e.dest, e.type, e.fw_status, e.cpu)
        )
    return line


Verdict = Callable[[bytes, PmtLimits], str]
