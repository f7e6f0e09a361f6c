"""Properties of the PMT codec over generated valid tables: lossless round
trips, single-bit damage either rejected or harmless, and no input that makes
decode fail with anything but PmtError."""

from __future__ import annotations

import random

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pmt_corpus import reseal
from pmt_samples import FIRMWARE_LIMITS, random_valid_table, valid_tables
from warmboot import pmt
from warmboot.pmt import PmtError, spec

PROPERTY = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def firmware_owned_bits(table: pmt.Pmt) -> set[int]:
    """Bit positions of the bytes the CRC does not cover."""
    spans = [(28, 32), spec.HEADER.firmware_bytes()]
    start, end = spec.ENTRY.firmware_bytes()
    spans += [
        (
            table.header_size + i * table.entry_size + start,
            table.header_size + i * table.entry_size + end,
        )
        for i in range(len(table.entries))
    ]
    return {bit for lo, hi in spans for bit in range(8 * lo, 8 * hi)}


def check_flip(data: bytes, bit: int, fw_bits: set[int]) -> None:
    flipped = bytearray(data)
    flipped[bit // 8] ^= 1 << (bit % 8)
    try:
        decoded = pmt.decode(bytes(flipped))
    except PmtError as exc:
        assert exc.reason is not None
        return
    # Accepted: only firmware-owned bytes (outside the CRC) may change, and
    # the result is itself a valid table with exactly those bytes.
    assert bit in fw_bits and not 8 * 28 <= bit < 8 * 32, f"flip of bit {bit} accepted"
    assert pmt.encode(pmt.validate(decoded)) == bytes(flipped)


@PROPERTY
@given(valid_tables())
def test_decode_inverts_encode(table: pmt.Pmt) -> None:
    data = pmt.encode(table)
    assert pmt.decode(data) == table
    assert pmt.decode(data, FIRMWARE_LIMITS) == table
    assert pmt.validate(table) == table
    assert pmt.encode(pmt.decode(data)) == data


@PROPERTY
@given(valid_tables(), st.data())
def test_single_bit_flips_are_rejected_or_decode_to_a_valid_table(
    table: pmt.Pmt, data: st.DataObject
) -> None:
    encoded = pmt.encode(table)
    fw_bits = firmware_owned_bits(table)
    for _ in range(16):
        check_flip(encoded, data.draw(st.integers(0, 8 * len(encoded) - 1)), fw_bits)


def test_every_single_bit_flip_of_one_table_is_rejected_or_valid() -> None:
    table = random_valid_table(random.Random(7))
    encoded = pmt.encode(table)
    fw_bits = firmware_owned_bits(table)
    for bit in range(8 * len(encoded)):
        check_flip(encoded, bit, fw_bits)


def decode_raises_only_pmt_error(data: bytes) -> None:
    try:
        pmt.decode(data)
    except PmtError as exc:
        assert exc.reason is not None


@PROPERTY
@given(st.binary(max_size=600))
def test_arbitrary_bytes_raise_only_pmt_error(data: bytes) -> None:
    decode_raises_only_pmt_error(data)
    decode_raises_only_pmt_error(pmt.MAGIC + data)
    decode_raises_only_pmt_error(pmt.MAGIC + b"\x01\x00" + data)


@PROPERTY
@given(
    valid_tables(),
    st.lists(st.tuples(st.integers(0, 1 << 16), st.integers(0, 255)), min_size=1, max_size=8),
    st.booleans(),
)
def test_damaged_tables_raise_only_pmt_error(
    table: pmt.Pmt, edits: list[tuple[int, int]], resealed: bool
) -> None:
    data = bytearray(pmt.encode(table))
    for at, value in edits:
        data[at % len(data)] = value
    damaged = reseal(bytes(data)) if resealed else bytes(data)
    decode_raises_only_pmt_error(damaged)
    decode_raises_only_pmt_error(damaged[: edits[0][0] % len(damaged)])
