"""coreboot tables built by the encoder: records, checksums, search, forwarding."""

from __future__ import annotations

import re
import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from warmboot.handoff.cbtable import (
    HEADER,
    LB_TAG_WARMBOOT_PMT,
    PMT_RECORD_SIZE,
    CbmemEntryRecord,
    CbtableError,
    ForwardRecord,
    LbMemType,
    MemoryRange,
    MemoryRecord,
    PmtRecord,
    RawRecord,
    decode_record,
    decode_table,
    encode_record,
    encode_table,
    find_table,
    ip_checksum,
)
from warmboot.handoff.physmem import MemoryImage
from warmboot.pmt import PmtFlags, RejectReason, ResetCause
from warmboot.pmt.spec import CookieKind

u32 = st.integers(0, 0xFFFF_FFFF)
u64 = st.integers(0, (1 << 64) - 1)
records = st.one_of(
    st.builds(MemoryRecord, st.lists(st.builds(MemoryRange, u64, u64, u32), max_size=5).map(tuple)),
    st.builds(ForwardRecord, u64),
    st.builds(CbmemEntryRecord, u64, u32, u32),
    st.builds(
        PmtRecord, u64, u32, u32, st.integers(0, 0xFFFF), st.integers(0, 0xFFFF), u32, u64, u64, u64
    ),
    st.builds(RawRecord, st.sampled_from([0x3, 0x4, 0x10, 0x16, 0x40]), st.binary(max_size=40)),
)


@given(st.binary(max_size=300))
def test_ip_checksum_stored_in_the_data_sums_to_zero(data):
    # What libpayload checks: the checksum of the header including its
    # checksum field is 0. Put the checksum at an even offset and re-sum.
    padded = data + b"\0" * (len(data) % 2)
    assert ip_checksum(padded + struct.pack("<H", ip_checksum(padded))) == 0


def test_ip_checksum_of_known_bytes():
    assert ip_checksum(b"") == 0xFFFF
    assert ip_checksum(b"\x01\x02") == 0xFFFF - 0x0201
    assert ip_checksum(b"\xff\xff\xff\xff") == 0x0000
    assert ip_checksum(b"\x01") == 0xFFFE  # an odd byte is a low byte


@given(st.lists(records, max_size=8))
def test_tables_round_trip(recs):
    table = decode_table(encode_table(recs), address=0x1000)
    assert table.records == tuple(recs)
    assert table.header.table_entries == len(recs)


def test_pmt_record_layout_is_fixed():
    record = PmtRecord(
        anchor_addr=0x1_2345_6000,
        anchor_size=0x1D8,
        flags=PmtFlags.ARMED | PmtFlags.WARM_RESET_SEEN | PmtFlags.REJECTED,
        reject_reason=RejectReason.OVERLAP,
        reset_cause=ResetCause.WATCHDOG,
        reject_entry=3,
        generation=0x1122334455667788,
        boot_window_base=0x100000,
        boot_window_size=0x4F00000,
        cookie_addr=0x68,
        cookie_kind=CookieKind.CMOS,
        cookie_size=8,
        firmware_low_end=0x100000,
    )
    data = encode_record(record)
    assert len(data) == PMT_RECORD_SIZE == 80
    assert struct.unpack("<IIQIIHHIQQQQIIQ", data) == (
        0x5742_0001,
        80,
        0x1_2345_6000,
        0x1D8,
        0x0009_0001,
        19,
        2,
        3,
        0x1122334455667788,
        0x100000,
        0x4F00000,
        0x68,
        1,
        8,
        0x100000,
    )
    assert decode_record(data) == record
    assert decode_record(data).rejected


def test_layout_1_pmt_record_reads_with_no_cookie_location():
    # Firmware from before layout 2 wrote 56 bytes: where the cookie goes is unknown.
    data = bytearray(
        encode_record(
            PmtRecord(
                0x100000,
                0x200,
                boot_window_size=0x1000,
                cookie_kind=CookieKind.CMOS,
                cookie_addr=0x68,
            )
        )
    )
    old = bytes(data[:56])
    old = old[:4] + struct.pack("<I", 56) + old[8:]
    assert decode_record(old) == PmtRecord(0x100000, 0x200, boot_window_size=0x1000)


def test_longer_pmt_record_keeps_its_known_fields():
    # A later layout may append fields; size says how long the record is.
    longer = bytearray(encode_record(PmtRecord(0x100000, 0x200)) + bytes(8))
    struct.pack_into("<I", longer, 4, len(longer))
    assert decode_record(bytes(longer)) == PmtRecord(0x100000, 0x200)


def test_memory_ranges_are_packed_u64_halves_at_4_byte_alignment():
    # struct lb_memory_range in coreboot 4.15: {lo, hi} start, {lo, hi} size, type.
    body = struct.pack("<5I", 0x2000_0000, 0x1, 0x1000_0000, 0x0, LbMemType.RAM)
    body += struct.pack("<5I", 0x0, 0x0, 0x1000, 0x0, LbMemType.TABLE)
    record = struct.pack("<II", 0x1, 8 + len(body)) + body
    assert decode_record(record) == MemoryRecord(
        (
            MemoryRange(0x1_2000_0000, 0x1000_0000, LbMemType.RAM),
            MemoryRange(0, 0x1000, LbMemType.TABLE),
        )
    )


def test_unknown_records_are_kept_raw():
    table = decode_table(encode_table([RawRecord(0x4, b"4.15\0\0\0\0")]))
    assert table.records == (RawRecord(0x4, b"4.15\0\0\0\0"),)


def corrupt(data: bytes, offset: int) -> bytes:
    return data[:offset] + bytes([data[offset] ^ 0xFF]) + data[offset + 1 :]


def test_bad_header_checksum_is_rejected():
    data = encode_table([ForwardRecord(0x1000)])
    with pytest.raises(
        CbtableError, match=r"at 0x500: header checksum 0x[0-9a-f]{4} does not match"
    ):
        decode_table(corrupt(data, 20), address=0x500)  # table_entries


def test_bad_table_checksum_is_rejected():
    data = encode_table([MemoryRecord((MemoryRange(0, 0x1000, 1),))])
    with pytest.raises(CbtableError, match=r"table checksum 0x[0-9a-f]{4} does not match"):
        decode_table(corrupt(data, HEADER.size + 10))


def test_record_running_past_the_table_is_rejected():
    data = bytearray(encode_table([ForwardRecord(0x1000)]))
    struct.pack_into("<I", data, HEADER.size + 4, 64)  # record size > table_bytes
    body = bytes(data[HEADER.size :])
    header = HEADER.pack(b"LBIO", HEADER.size, 0, len(body), ip_checksum(body), 1)
    header = HEADER.pack(b"LBIO", HEADER.size, ip_checksum(header), len(body), ip_checksum(body), 1)
    with pytest.raises(CbtableError, match="bad size 64"):
        decode_table(header + body)


def memory_with(tables: dict[int, bytes], size: int = 0x400000) -> MemoryImage:
    mem = bytearray(size)
    for addr, data in tables.items():
        mem[addr : addr + len(data)] = data
    return MemoryImage(bytes(mem))


def test_forward_record_in_low_memory_is_followed():
    real = encode_table(
        [MemoryRecord((MemoryRange(0, 0x400000, LbMemType.RAM),)), PmtRecord(0x200000, 0x1D8)]
    )
    memory = memory_with({0x500: encode_table([ForwardRecord(0x3FF000)]), 0x3FF000: real})
    table = find_table(memory)
    assert (table.address, table.forwarded_from) == (0x3FF000, (0x500,))
    assert table.pmt_record == PmtRecord(0x200000, 0x1D8)
    assert table.memory_ranges == (MemoryRange(0, 0x400000, LbMemType.RAM),)


def test_table_in_the_f_segment_is_found():
    memory = memory_with({0xF0400: encode_table([CbmemEntryRecord(0x3000, 0x100, 0x43425442)])})
    table = find_table(memory)
    assert table.address == 0xF0400 and table.forwarded_from == ()


def test_signature_off_a_16_byte_boundary_is_ignored_and_a_bad_one_skipped():
    good = encode_table([ForwardRecord(0x3FF000)])
    memory = memory_with(
        {
            0x108: encode_table([ForwardRecord(0x1)]),  # not on a 16-byte boundary
            0x200: corrupt(good, 8),  # fails its header checksum
            0x500: good,
            0x3FF000: encode_table([]),
        }
    )
    assert find_table(memory).forwarded_from == (0x500,)


def test_forwarding_loop_is_refused():
    memory = memory_with(
        {0x500: encode_table([ForwardRecord(0x600)]), 0x600: encode_table([ForwardRecord(0x500)])}
    )
    with pytest.raises(CbtableError, match="forward more than"):
        find_table(memory)


def test_missing_table_names_the_windows_searched():
    with pytest.raises(
        CbtableError,
        match=r"no valid coreboot table in \[0x0, 0x1000\), "
        r"\[0xf0000, 0x100000\)",
    ):
        find_table(memory_with({}))


def test_tag_stays_clear_of_coreboot_4_15_tags():
    from warmboot.sources import load_lock, materialize
    from wbtest import TOP

    tree = materialize(load_lock(TOP / "coreboot-config/sources.lock.toml").get("coreboot"))
    header = tree.path / "src/commonlib/include/commonlib/coreboot_tables.h"
    text = header.read_text()
    used = {int(v, 16) for v in re.findall(r"LB_TAG_\w+\s*=\s*(0x[0-9a-fA-F]+)", text)}
    assert used and LB_TAG_WARMBOOT_PMT not in used
    assert max(used) * 0x1000 < LB_TAG_WARMBOOT_PMT
