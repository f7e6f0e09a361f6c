"""Decoding: bytes to a checked Pmt (decode, validate) and CPU records."""

from __future__ import annotations

from .encode import encode
from .model import DEFAULT_LIMITS, PMT_FIELDS, CpuRecord, Pmt, PmtEntry, PmtLimits
from .rules import check_entry, check_header, check_table
from .spec import (
    CPU_RECORD,
    CPU_RECORD_MAGIC,
    CPU_RECORD_SIZE,
    CPU_RECORD_VERSION,
    ENTRY,
    ENTRY_SIZE,
    GREGS_BY_MACHINE,
    HEADER_SIZE,
    MAX_GREGS,
    MAX_SYSREGS,
    SIZE_GRANULE,
    CpuRecordFlags,
    PmtError,
)


def decode(data: bytes | bytearray | memoryview, limits: PmtLimits = DEFAULT_LIMITS) -> Pmt:
    """Check a table's bytes against every v1 rule and return its model.

    Raises PmtError (with .reason and .entry) for the first rule broken, in
    the order docs/pmt.md gives, which is the C validator's order too.
    """
    buf = bytes(data)
    h = check_header(buf, limits)
    hs, es = h["header_size"], h["entry_size"]
    raw = [ENTRY.unpack(buf, hs + i * es) for i in range(h["entry_count"])]
    for i, e in enumerate(raw):
        check_entry(i, e, h["cpu_count"], limits)
    entries = tuple(
        PmtEntry(extra=buf[hs + i * es + ENTRY_SIZE : hs + (i + 1) * es], **e)
        for i, e in enumerate(raw)
    )
    check_table(h, entries)
    end_of_entries = hs + h["entry_count"] * es
    return Pmt(
        entries=entries,
        header_extra=buf[HEADER_SIZE:hs],
        trailer=buf[end_of_entries : h["total_size"]],
        **{name: h[name] for name in PMT_FIELDS},
    )


def validate(
    table: Pmt | bytes | bytearray | memoryview, limits: PmtLimits = DEFAULT_LIMITS
) -> Pmt:
    """Check a table (model or bytes) against every rule; return the model
    as decoded from its bytes, or raise PmtError naming the first rule broken."""
    return decode(encode(table) if isinstance(table, Pmt) else table, limits)


def decode_cpu_record(data: bytes, e_machine: int | None = None) -> CpuRecord:
    """Decode one record slot; e_machine, when given, bounds nregs."""
    if len(data) < CPU_RECORD_SIZE:
        raise PmtError(f"a CPU record needs {CPU_RECORD_SIZE} bytes, got {len(data)}")
    r = CPU_RECORD.unpack(bytes(data[:CPU_RECORD_SIZE]))
    if r["magic"] != CPU_RECORD_MAGIC:
        raise PmtError(f"CPU record magic {r['magic']:#010x} is not {CPU_RECORD_MAGIC:#010x}")
    if r["version"] != CPU_RECORD_VERSION:
        raise PmtError(f"CPU record version {r['version']}; this reader knows {CPU_RECORD_VERSION}")
    known = GREGS_BY_MACHINE.get(e_machine, ()) if e_machine is not None else ()
    max_regs = len(known) or MAX_GREGS
    if r["nregs"] > max_regs or r["nsysregs"] > MAX_SYSREGS:
        raise PmtError(
            f"CPU record claims {r['nregs']} gregs and {r['nsysregs']} sysregs; "
            f"at most {max_regs} and {MAX_SYSREGS} fit"
        )
    return CpuRecord(
        cpu_id=r["cpu_id"],
        flags=CpuRecordFlags(r["flags"]),
        gregs=r["gregs"][: r["nregs"]],
        sysregs=r["sysregs"][: r["nsysregs"]],
        timestamp=r["timestamp"],
        version=r["version"],
    )


def decode_cpu_records(
    data: bytes, count: int, record_size: int = CPU_RECORD_SIZE, e_machine: int | None = None
) -> tuple[CpuRecord, ...]:
    """The `count` records of a CPU_STATE area (pass the table's cpu_count,
    cpu_record_size and e_machine). Slots without VALID are still returned;
    callers use only records whose .valid is true."""
    if record_size < CPU_RECORD_SIZE or record_size % SIZE_GRANULE:
        raise PmtError(
            f"cpu record size {record_size} is not a multiple of "
            f"{SIZE_GRANULE} of at least {CPU_RECORD_SIZE}"
        )
    if count < 0 or len(data) < count * record_size:
        raise PmtError(f"{len(data)} bytes cannot hold {count} CPU records of {record_size} bytes")
    return tuple(
        decode_cpu_record(data[i * record_size : (i + 1) * record_size], e_machine)
        for i in range(count)
    )
