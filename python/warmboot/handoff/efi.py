"""The PMT hand-off for UEFI firmware: one EFI configuration table.

Firmware installs, with gBS->InstallConfigurationTable(), the GUID below
with VendorTable = the PMT's physical address (its table_addr, in place),
and reports the PMT's pages and every kept region as EfiReservedMemoryType.
The OS finds the PMT by scanning EFI_SYSTEM_TABLE.ConfigurationTable for
the GUID. docs/handoff.md is the normative description.
"""

from __future__ import annotations

import struct
import uuid
from dataclasses import dataclass

from ..errors import WarmbootError
from .physmem import PhysicalMemory, PhysicalMemoryError

# Generated once (random, version 4) for warmboot; never change it.
WARMBOOT_PMT_TABLE_GUID = uuid.UUID("84bca11a-b560-49a1-a693-1eb9cf87ebf7")
# The C initializer for firmware sources, EFI_GUID {Data1, Data2, Data3, {Data4}}.
WARMBOOT_PMT_TABLE_GUID_C = (
    "{ 0x84bca11a, 0xb560, 0x49a1, { 0xa6, 0x93, 0x1e, 0xb9, 0xcf, 0x87, 0xeb, 0xf7 } }"
)

# EFI_GUID: UINT32 Data1, UINT16 Data2, UINT16 Data3 (little-endian), UINT8 Data4[8].
EFI_GUID = struct.Struct("<IHH8s")
# EFI_CONFIGURATION_TABLE on a 64-bit firmware: EFI_GUID, then VOID *VendorTable
# (the GUID's 16 bytes keep the pointer 8-byte aligned, so no padding).
CONFIG_TABLE_64 = struct.Struct("<16sQ")
CONFIG_TABLE_32 = struct.Struct("<16sI")


class EfiError(WarmbootError):
    """An EFI structure that cannot be encoded or found."""


def encode_guid(guid: uuid.UUID) -> bytes:
    """EFI_GUID bytes: the first three fields little-endian, the rest as is
    (the "mixed-endian" layout uuid.UUID.bytes_le also produces)."""
    data1, data2, data3 = guid.fields[0], guid.fields[1], guid.fields[2]
    return EFI_GUID.pack(data1, data2, data3, guid.bytes[8:])


def decode_guid(data: bytes) -> uuid.UUID:
    if len(data) < EFI_GUID.size:
        raise EfiError(f"an EFI_GUID is {EFI_GUID.size} bytes, got {len(data)}")
    data1, data2, data3, data4 = EFI_GUID.unpack_from(data)
    return uuid.UUID(bytes=struct.pack(">IHH", data1, data2, data3) + data4)


@dataclass(frozen=True)
class ConfigurationTable:
    """One EFI_CONFIGURATION_TABLE entry."""

    vendor_guid: uuid.UUID
    vendor_table: int


def _layout(pointer_size: int) -> struct.Struct:
    if pointer_size == 8:
        return CONFIG_TABLE_64
    if pointer_size == 4:
        return CONFIG_TABLE_32
    raise EfiError(f"EFI pointers are 4 or 8 bytes, not {pointer_size}")


def encode_config_table(entry: ConfigurationTable, pointer_size: int = 8) -> bytes:
    layout = _layout(pointer_size)
    if not 0 <= entry.vendor_table < 1 << (8 * pointer_size):
        raise EfiError(
            f"VendorTable {entry.vendor_table:#x} does not fit a {pointer_size}-byte pointer"
        )
    return layout.pack(encode_guid(entry.vendor_guid), entry.vendor_table)


def decode_config_table(data: bytes, pointer_size: int = 8) -> ConfigurationTable:
    layout = _layout(pointer_size)
    if len(data) < layout.size:
        raise EfiError(f"an EFI_CONFIGURATION_TABLE is {layout.size} bytes, got {len(data)}")
    guid, pointer = layout.unpack_from(data)
    return ConfigurationTable(decode_guid(guid), pointer)


def pmt_config_table(pmt_addr: int) -> ConfigurationTable:
    """The entry firmware installs for a PMT at physical `pmt_addr`."""
    return ConfigurationTable(WARMBOOT_PMT_TABLE_GUID, pmt_addr)


def find_pmt(
    memory: PhysicalMemory, config_tables_addr: int, count: int, pointer_size: int = 8
) -> int | None:
    """Scan an EFI_SYSTEM_TABLE's ConfigurationTable array (its address and
    NumberOfTableEntries) for the warmboot GUID; the PMT's address, or None."""
    size = _layout(pointer_size).size
    try:
        array = memory.read(config_tables_addr, count * size)
    except PhysicalMemoryError as exc:
        raise EfiError(f"cannot read the EFI configuration tables: {exc}") from exc
    for index in range(count):
        entry = decode_config_table(array[index * size : (index + 1) * size], pointer_size)
        if entry.vendor_guid == WARMBOOT_PMT_TABLE_GUID:
            return entry.vendor_table
    return None
