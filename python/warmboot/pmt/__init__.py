"""The preserved-memory table (PMT), format v1.

The running OS hands firmware a PMT that names the memory to keep across a
warm reset, the low memory firmware must copy away before reusing it, and
where the SMM watchdog handler saves CPU registers. docs/pmt.md is the
normative spec.

    spec      the wire format: constants, enums, the Layout of each structure
              (pmt.h and docs/pmt.md's tables are generated from it)
    model     Pmt, PmtEntry, CpuRecord, PmtLimits: what tables are built from
    encode    model -> bytes, and the CRC
    rules     the ordered checks, the same as the C validator's
    decode    bytes -> checked model (decode, validate), CPU records
    jsonform  the JSON form of a table (to_dict, from_dict)

What most callers need is importable from here; layouts and register tables
come from warmboot.pmt.spec.
"""

from __future__ import annotations

from .decode import decode, decode_cpu_record, decode_cpu_records, validate
from .encode import compute_crc, encode, encode_cpu_record, encode_cpu_records
from .jsonform import from_dict, to_dict
from .model import DEFAULT_LIMITS, CpuRecord, Pmt, PmtEntry, PmtLimits
from .spec import (
    CPU_RECORD_SIZE,
    EM_AARCH64,
    EM_X86_64,
    ENTRY_SIZE,
    HEADER_SIZE,
    MAGIC,
    MEMORY_TYPES,
    NO_ENTRY,
    PAGE_SIZE,
    CpuRecordFlags,
    EntryStatus,
    EntryType,
    PmtError,
    PmtFlags,
    RejectReason,
    ResetCause,
)

__all__ = [  # noqa: RUF022 -- grouped by topic, as the comments say
    # errors, enums and flags
    "PmtError",
    "EntryType",
    "EntryStatus",
    "PmtFlags",
    "ResetCause",
    "RejectReason",
    "CpuRecordFlags",
    # the model
    "Pmt",
    "PmtEntry",
    "CpuRecord",
    "PmtLimits",
    "DEFAULT_LIMITS",
    # bytes
    "encode",
    "decode",
    "validate",
    "compute_crc",
    "encode_cpu_record",
    "encode_cpu_records",
    "decode_cpu_record",
    "decode_cpu_records",
    # JSON
    "to_dict",
    "from_dict",
    # the constants callers use most
    "MAGIC",
    "HEADER_SIZE",
    "ENTRY_SIZE",
    "CPU_RECORD_SIZE",
    "PAGE_SIZE",
    "NO_ENTRY",
    "EM_X86_64",
    "EM_AARCH64",
    "MEMORY_TYPES",
]
