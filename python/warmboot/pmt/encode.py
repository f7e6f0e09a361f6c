"""Encoding: a Pmt or CpuRecord model to its bytes, and the table CRC.

encode() does not check the rules (warmboot.pmt.rules does, through
decode() and validate()), so tests and tools can build tables that break them.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Sequence

from .model import ENTRY_FIELDS, PMT_FIELDS, CpuRecord, Pmt
from .spec import (
    CPU_RECORD,
    CPU_RECORD_MAGIC,
    CPU_RECORD_SIZE,
    ENTRY,
    HEADER,
    MAGIC,
    SIZE_GRANULE,
    PmtError,
)


def masked_crc(
    buf: bytes | bytearray, header_size: int, entry_size: int, entry_count: int, total_size: int
) -> int:
    """CRC-32 over total_size bytes with crc32 and every firmware-owned byte
    read as zero, so firmware never has to re-sign (and so never blesses) a
    table it only annotates."""
    work = bytearray(buf[:total_size])
    crc_at = HEADER.offsets["crc32"]
    work[crc_at : crc_at + 4] = bytes(4)
    start, end = HEADER.firmware_bytes()
    work[start:end] = bytes(end - start)
    e_start, e_end = ENTRY.firmware_bytes()
    for i in range(entry_count):
        at = header_size + i * entry_size
        work[at + e_start : at + e_end] = bytes(e_end - e_start)
    return zlib.crc32(work)


def compute_crc(data: bytes) -> int:
    """The CRC a table's bytes should carry, from the sizes in its header.
    The header must be readable and its sizes consistent (as decode checks)."""
    h = HEADER.unpack(data)
    return masked_crc(data, h["header_size"], h["entry_size"], h["entry_count"], h["total_size"])


def encode(pmt: Pmt) -> bytes:
    """The table's bytes, sizes and CRC filled in. Does not check the rules
    (validate() does), so tests and tools can build tables that break them."""
    header = {name: getattr(pmt, name) for name in PMT_FIELDS}
    header.update(
        magic=MAGIC,
        header_size=pmt.header_size,
        entry_size=pmt.entry_size,
        entry_count=len(pmt.entries),
        total_size=pmt.total_size,
        crc32=0,
    )
    parts = [HEADER.pack(header), pmt.header_extra]
    for entry in pmt.entries:
        parts.append(ENTRY.pack({name: getattr(entry, name) for name in ENTRY_FIELDS}))
        parts.append(entry.extra)
    parts.append(pmt.trailer)
    buf = bytearray(b"".join(parts))
    crc = masked_crc(buf, pmt.header_size, pmt.entry_size, len(pmt.entries), pmt.total_size)
    struct.pack_into("<I", buf, HEADER.offsets["crc32"], crc)
    return bytes(buf)


def encode_cpu_record(record: CpuRecord, record_size: int = CPU_RECORD_SIZE) -> bytes:
    """One record slot of record_size bytes (the tail past v1 is zero)."""
    if record_size < CPU_RECORD_SIZE or record_size % SIZE_GRANULE:
        raise PmtError(
            f"cpu record size {record_size} is not a multiple of "
            f"{SIZE_GRANULE} of at least {CPU_RECORD_SIZE}"
        )
    body = CPU_RECORD.pack(
        dict(
            magic=CPU_RECORD_MAGIC,
            version=record.version,
            flags=record.flags,
            nregs=len(record.gregs),
            nsysregs=len(record.sysregs),
            cpu_id=record.cpu_id,
            timestamp=record.timestamp,
            gregs=record.gregs,
            sysregs=record.sysregs,
        )
    )
    return body + bytes(record_size - CPU_RECORD_SIZE)


def encode_cpu_records(records: Sequence[CpuRecord], record_size: int = CPU_RECORD_SIZE) -> bytes:
    """A CPU_STATE area: the OS pre-fills one slot per possible CPU (magic,
    version, cpu_id) so the SMM handler finds its slot by cpu_id."""
    return b"".join(encode_cpu_record(r, record_size) for r in records)
