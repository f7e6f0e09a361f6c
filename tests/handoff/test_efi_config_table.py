"""The EFI configuration-table hand-off: GUID bytes and the table entry."""

from __future__ import annotations

import struct
import uuid

import pytest
from hypothesis import given
from hypothesis import strategies as st

from warmboot.handoff.efi import (
    WARMBOOT_PMT_TABLE_GUID,
    WARMBOOT_PMT_TABLE_GUID_C,
    ConfigurationTable,
    EfiError,
    decode_config_table,
    decode_guid,
    encode_config_table,
    encode_guid,
    find_pmt,
    pmt_config_table,
)
from warmboot.handoff.physmem import MemoryImage

# Well-known GUIDs, for the table-scan test: ACPI 2.0 and SMBIOS 3.
ACPI_20 = uuid.UUID("8868e871-e4f1-11d3-bc22-0080c73c8881")
SMBIOS3 = uuid.UUID("f2fd1544-9794-4a2c-992e-e5bbcf20e394")


def test_guid_is_a_fixed_random_v4():
    assert uuid.UUID("84bca11a-b560-49a1-a693-1eb9cf87ebf7") == WARMBOOT_PMT_TABLE_GUID
    assert WARMBOOT_PMT_TABLE_GUID.version == 4
    assert WARMBOOT_PMT_TABLE_GUID.variant == uuid.RFC_4122


@given(st.uuids())
def test_guid_bytes_are_efis_mixed_endian_layout(guid):
    assert encode_guid(guid) == guid.bytes_le
    assert decode_guid(encode_guid(guid)) == guid


def test_c_initializer_spells_the_same_guid():
    numbers = [
        int(n, 16)
        for n in WARMBOOT_PMT_TABLE_GUID_C.replace("{", " ")
        .replace("}", " ")
        .replace(",", " ")
        .split()
    ]
    data = struct.pack("<IHH8B", *numbers)
    assert decode_guid(data) == WARMBOOT_PMT_TABLE_GUID


def test_acpi_guid_bytes_match_the_uefi_spec_example():
    # EFI_ACPI_20_TABLE_GUID {0x8868e871,0xe4f1,0x11d3,{0xbc,0x22,0x00,0x80,0xc7,0x3c,0x88,0x81}}
    assert encode_guid(ACPI_20).hex() == "71e86888f1e4d311bc220080c73c8881"


@given(st.uuids(), st.integers(0, (1 << 64) - 1))
def test_config_table_round_trips(guid, pointer):
    entry = ConfigurationTable(guid, pointer)
    data = encode_config_table(entry)
    assert len(data) == 24
    assert data[:16] == guid.bytes_le and struct.unpack("<Q", data[16:]) == (pointer,)
    assert decode_config_table(data) == entry


def test_32_bit_firmware_entry_is_20_bytes():
    entry = pmt_config_table(0x7FF0_0000)
    assert len(encode_config_table(entry, pointer_size=4)) == 20
    assert decode_config_table(encode_config_table(entry, 4), 4) == entry
    with pytest.raises(EfiError, match="does not fit a 4-byte pointer"):
        encode_config_table(pmt_config_table(1 << 32), pointer_size=4)


def test_os_finds_the_pmt_among_the_systems_tables():
    array = b"".join(
        encode_config_table(e)
        for e in (
            ConfigurationTable(ACPI_20, 0x7FFE_0000),
            pmt_config_table(0x1234_5000),
            ConfigurationTable(SMBIOS3, 0x7FFD_0000),
        )
    )
    memory = MemoryImage(array, base=0x7F00_0000)
    assert find_pmt(memory, 0x7F00_0000, 3) == 0x1234_5000
    assert find_pmt(memory, 0x7F00_0000, 1) is None
    with pytest.raises(EfiError, match="cannot read the EFI configuration tables"):
        find_pmt(memory, 0x7F00_0000, 4)
