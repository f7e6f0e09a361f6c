"""CPU register records: the OS pre-fill, firmware's fill, and the decoder,
whose gregs drop straight into NT_PRSTATUS pr_reg."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from warmboot import pmt
from warmboot.pmt import CpuRecord, CpuRecordFlags, PmtError, spec

U64 = st.integers(0, (1 << 64) - 1)


def test_register_orders_match_elf_gregset() -> None:
    assert len(spec.X86_64_GREGS) == 27 and len(spec.AARCH64_GREGS) == 34
    assert spec.X86_64_GREGS[:4] == ("r15", "r14", "r13", "r12")
    assert spec.X86_64_GREGS[15:17] == ("orig_rax", "rip")
    assert spec.X86_64_GREGS[-6:] == ("fs_base", "gs_base", "ds", "es", "fs", "gs")
    assert spec.AARCH64_GREGS[30:] == ("x30", "sp", "pc", "pstate")
    # pr_reg fits where struct elf_prstatus keeps it.
    for em, names in spec.GREGS_BY_MACHINE.items():
        assert spec.PRSTATUS_PR_REG_OFFSET + 8 * len(names) <= spec.PRSTATUS_SIZE[em]


def test_record_layout() -> None:
    assert pmt.CPU_RECORD_SIZE == 384
    rec = CpuRecord(
        cpu_id=0x8000_0101,
        flags=CpuRecordFlags.VALID | CpuRecordFlags.FROM_SMM,
        gregs=tuple(range(100, 127)),
        sysregs=(0x80050033, 0, 0x1000, 0x3606E0),
        timestamp=42,
    )
    data = pmt.encode_cpu_record(rec)
    assert len(data) == 384
    assert data[:4] == b"PCPU"
    assert struct.unpack_from("<HHIHHQQ", data, 4) == (1, 0, 3, 27, 4, 0x8000_0101, 42)
    assert struct.unpack_from("<27Q", data, 32) == tuple(range(100, 127))
    assert struct.unpack_from("<Q", data, 304 + 8 * 2) == (0x1000,)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.builds(
            CpuRecord,
            cpu_id=U64,
            flags=st.integers(0, 0xFFFFFFFF).map(CpuRecordFlags),
            gregs=st.lists(U64, max_size=34).map(tuple),
            sysregs=st.lists(U64, max_size=8).map(tuple),
            timestamp=U64,
        ),
        max_size=6,
    ),
    st.integers(0, 4).map(lambda n: 384 + 8 * n),
)
def test_records_round_trip(records: list[CpuRecord], record_size: int) -> None:
    data = pmt.encode_cpu_records(records, record_size)
    assert len(data) == record_size * len(records)
    assert pmt.decode_cpu_records(data, len(records), record_size) == tuple(records)


def test_os_prefill_is_not_valid_until_firmware_fills_it() -> None:
    slots = pmt.encode_cpu_records([CpuRecord(cpu_id=apic) for apic in (0, 2, 4)])
    decoded = pmt.decode_cpu_records(slots, 3, e_machine=pmt.EM_X86_64)
    assert [r.cpu_id for r in decoded] == [0, 2, 4]
    assert not any(r.valid for r in decoded)


def test_pr_reg_is_the_full_gregset_with_missing_registers_zero() -> None:
    rec = CpuRecord(cpu_id=0, flags=CpuRecordFlags.VALID, gregs=(1, 2, 3))
    assert rec.pr_reg(pmt.EM_X86_64) == struct.pack("<27Q", 1, 2, 3, *[0] * 24)
    assert len(rec.pr_reg(pmt.EM_AARCH64)) == 34 * 8
    full = CpuRecord(cpu_id=0, gregs=tuple(range(27)))
    assert full.named_gregs(pmt.EM_X86_64)["rip"] == 16
    with pytest.raises(PmtError):
        CpuRecord(cpu_id=0, gregs=tuple(range(34))).pr_reg(pmt.EM_X86_64)
    with pytest.raises(PmtError):
        rec.pr_reg(3)


@pytest.mark.parametrize(
    "offset, value, fmt, message",
    [
        (0, 0x12345678, "<I", "magic"),
        (4, 2, "<H", "version"),
        (12, 35, "<H", "gregs"),
        (14, 9, "<H", "sysregs"),
    ],
)
def test_damaged_records_raise_pmt_error(offset: int, value: int, fmt: str, message: str) -> None:
    data = bytearray(pmt.encode_cpu_record(CpuRecord(cpu_id=1)))
    struct.pack_into(fmt, data, offset, value)
    with pytest.raises(PmtError, match=message):
        pmt.decode_cpu_records(bytes(data), 1)


def test_more_registers_than_the_machine_has_are_refused() -> None:
    data = pmt.encode_cpu_record(CpuRecord(cpu_id=1, gregs=tuple(range(30))))
    assert len(pmt.decode_cpu_records(data, 1, e_machine=pmt.EM_AARCH64)[0].gregs) == 30
    with pytest.raises(PmtError, match="gregs"):
        pmt.decode_cpu_records(data, 1, e_machine=pmt.EM_X86_64)


def test_short_area_and_bad_record_size_raise_pmt_error() -> None:
    data = pmt.encode_cpu_records([CpuRecord(cpu_id=1)])
    with pytest.raises(PmtError, match="cannot hold"):
        pmt.decode_cpu_records(data, 2)
    with pytest.raises(PmtError, match="record size"):
        pmt.decode_cpu_records(data, 1, record_size=380)
