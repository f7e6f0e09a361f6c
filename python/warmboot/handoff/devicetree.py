"""The PMT hand-off in a device tree: /reserved-memory nodes and /chosen.

Firmware that boots the next kernel with a device tree (the aarch64 boards)
reserves what the PMT kept and tells the kernel where the PMT is:

  /reserved-memory/warmboot-preserved@BASE  one per kept PRESERVE entry
  /reserved-memory/warmboot-boot-copy@DEST  one per kept BOOT_COPY (its copy)
  /reserved-memory/warmboot-pmt@ADDR        the table's pages, only when no
                                            reserved region already holds them
  /chosen/warmboot,pmt         = <address size> of the PMT
  /chosen/warmboot,pmt-status  = <flags reject_reason reset_cause reject_entry>

docs/handoff.md is the binding. Trees are built and edited with pylibfdt;
the DTS text is the same model printed for people and for dtc.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

import libfdt

from ..errors import WarmbootError
from ..pmt import NO_ENTRY, PAGE_SIZE, EntryStatus, EntryType, Pmt, PmtFlags

# The binding's names (docs/handoff.md), defined here only: cgen writes them
# into payloads/libpmt/pmt.h and the kernel's pmt.h as PMT_DT_*, which the
# firmware (pmt_dt.c), the payload tools (dtfw.c) and the kernel driver use.
COMPATIBLE = "warmboot,preserved-memory"  # memory kept for the OS to read
FIRMWARE_COMPATIBLE = "warmboot,firmware-memory"  # firmware's own, no-map
ANCHOR_PROPERTY = "warmboot,anchor"
BOOT_WINDOW_PROPERTY = "warmboot,boot-window"
RESET_MAILBOX_PROPERTY = "warmboot,reset-mailbox"
PMT_PROPERTY = "warmboot,pmt"
STATUS_PROPERTY = "warmboot,pmt-status"
STATUS_CELLS = 4  # flags, reject_reason, reset_cause, reject_entry
COPY_OF_PROPERTY = "warmboot,copy-of"
# /reserved-memory node names before '@': for people reading the tree;
# readers match the compatible.
PRESERVED_NODE = "warmboot-preserved"
BOOT_COPY_NODE = "warmboot-boot-copy"
PMT_NODE = "warmboot-pmt"
FIRMWARE_NODE = "warmboot-firmware"
# (C macro suffix, value) of every name above, in the order cgen writes them.
C_NAMES: tuple[tuple[str, str | int], ...] = (
    ("PRESERVED_COMPATIBLE", COMPATIBLE),
    ("FIRMWARE_COMPATIBLE", FIRMWARE_COMPATIBLE),
    ("ANCHOR", ANCHOR_PROPERTY),
    ("BOOT_WINDOW", BOOT_WINDOW_PROPERTY),
    ("RESET_MAILBOX", RESET_MAILBOX_PROPERTY),
    ("PMT", PMT_PROPERTY),
    ("PMT_STATUS", STATUS_PROPERTY),
    ("PMT_STATUS_CELLS", STATUS_CELLS),
    ("COPY_OF", COPY_OF_PROPERTY),
    ("PRESERVED_NODE", PRESERVED_NODE),
    ("BOOT_COPY_NODE", BOOT_COPY_NODE),
    ("PMT_NODE", PMT_NODE),
    ("FIRMWARE_NODE", FIRMWARE_NODE),
)
# Both generated trees and /reserved-memory use 64-bit addresses and sizes.
CELLS = 2
# Firmware status values meaning the region's bytes were not kept.
NOT_KEPT = frozenset({EntryStatus.SKIPPED, EntryStatus.FAILED})


class DevicetreeError(WarmbootError):
    """A device tree cannot be built or patched."""


@dataclass(frozen=True)
class ReservedRegion:
    """One /reserved-memory child. `copy_of` is a BOOT_COPY's original base
    (the crashed kernel's address of these bytes); None otherwise."""

    kind: str  # node name before '@'
    base: int
    size: int
    no_map: bool = False
    copy_of: int | None = None

    @property
    def node_name(self) -> str:
        return f"{self.kind}@{self.base:x}"


@dataclass(frozen=True)
class DtHandoff:
    regions: tuple[ReservedRegion, ...]
    pmt_addr: int
    pmt_size: int
    # STATUS_CELLS cells: flags, reject_reason, reset_cause, reject_entry
    status: tuple[int, int, int, int]


def handoff_from_pmt(table: Pmt, no_map: bool = False) -> DtHandoff:
    """What to put in the tree for a table firmware processed.

    Regions are reserved without `no-map` by default: they are ordinary
    write-back RAM the next kernel must not allocate but must read (the
    capture reads them through /dev/mem, which needs them in the linear
    map). `no_map=True` is for a board whose firmware still owns them.
    Entries firmware marked SKIPPED or FAILED hold nothing worth keeping.
    """
    regions = []
    for entry in table.entries:
        if entry.fw_status in NOT_KEPT:
            continue
        if entry.type == EntryType.PRESERVE:
            regions.append(ReservedRegion(PRESERVED_NODE, entry.base, entry.size, no_map))
        elif entry.type == EntryType.BOOT_COPY:
            regions.append(
                ReservedRegion(BOOT_COPY_NODE, entry.dest, entry.size, no_map, copy_of=entry.base)
            )
    table_end = table.table_addr + table.total_size
    if not any(r.base <= table.table_addr and table_end <= r.base + r.size for r in regions):
        start = table.table_addr - table.table_addr % PAGE_SIZE
        end = -(-table_end // PAGE_SIZE) * PAGE_SIZE
        regions.append(ReservedRegion(PMT_NODE, start, end - start, no_map))
    # As in the coreboot record: an entry index only for a rejected table
    # (firmware leaves the header's field as the OS wrote it, 0, otherwise).
    rejected = table.reject_entry if table.flags & PmtFlags.REJECTED else NO_ENTRY
    status = (int(table.flags), table.reject_reason, table.reset_cause, rejected)
    return DtHandoff(
        tuple(sorted(regions, key=lambda r: r.base)), table.table_addr, table.total_size, status
    )


def encode_cells(value: int, cells: int) -> bytes:
    """A number as `cells` big-endian 32-bit cells."""
    if not 0 <= value < 1 << (32 * cells):
        raise DevicetreeError(f"{value:#x} does not fit in {cells} cell(s)")
    return value.to_bytes(4 * cells, "big")


def _reg(base: int, size: int, address_cells: int, size_cells: int) -> bytes:
    return encode_cells(base, address_cells) + encode_cells(size, size_cells)


def _u32s(values: tuple[int, ...]) -> bytes:
    return struct.pack(f">{len(values)}I", *values)


def _region_properties(
    region: ReservedRegion, address_cells: int, size_cells: int
) -> list[tuple[str, bytes]]:
    props = [
        ("compatible", COMPATIBLE.encode() + b"\0"),
        ("reg", _reg(region.base, region.size, address_cells, size_cells)),
    ]
    if region.copy_of is not None:
        props.append((COPY_OF_PROPERTY, encode_cells(region.copy_of, address_cells)))
    if region.no_map:
        props.append(("no-map", b""))
    return props


def _chosen_properties(
    handoff: DtHandoff, address_cells: int, size_cells: int
) -> list[tuple[str, bytes]]:
    return [
        (PMT_PROPERTY, _reg(handoff.pmt_addr, handoff.pmt_size, address_cells, size_cells)),
        (STATUS_PROPERTY, _u32s(handoff.status)),
    ]


def _dts_value(value: bytes) -> str:
    if not value:
        return ""
    if value.endswith(b"\0") and value[:-1].isascii() and b"\0" not in value[:-1]:
        return f' = "{value[:-1].decode()}"'
    cells = struct.unpack(f">{len(value) // 4}I", value)
    return " = <" + " ".join(f"{c:#x}" for c in cells) + ">"


def to_dts(handoff: DtHandoff) -> str:
    """A standalone DTS with the hand-off nodes (root cells 2/2)."""
    lines = [
        "/dts-v1/;",
        "",
        "/ {",
        f"\t#address-cells = <{CELLS:#x}>;",
        f"\t#size-cells = <{CELLS:#x}>;",
        "",
        "\tchosen {",
    ]
    lines += [
        f"\t\t{name}{_dts_value(v)};" for name, v in _chosen_properties(handoff, CELLS, CELLS)
    ]
    lines += [
        "\t};",
        "",
        "\treserved-memory {",
        f"\t\t#address-cells = <{CELLS:#x}>;",
        f"\t\t#size-cells = <{CELLS:#x}>;",
        "\t\tranges;",
    ]
    for region in handoff.regions:
        lines += ["", f"\t\t{region.node_name} {{"]
        lines += [
            f"\t\t\t{name}{_dts_value(v)};" for name, v in _region_properties(region, CELLS, CELLS)
        ]
        lines.append("\t\t};")
    lines += ["\t};", "};", ""]
    return "\n".join(lines)


def to_dtb(handoff: DtHandoff) -> bytes:
    """The same tree as to_dts(), built with libfdt's sequential writer."""
    try:
        sw = libfdt.FdtSw()
        sw.finish_reservemap()
        with sw.add_node(""):
            sw.property_u32("#address-cells", CELLS)
            sw.property_u32("#size-cells", CELLS)
            with sw.add_node("chosen"):
                for name, value in _chosen_properties(handoff, CELLS, CELLS):
                    sw.property(name, value)
            with sw.add_node("reserved-memory"):
                sw.property_u32("#address-cells", CELLS)
                sw.property_u32("#size-cells", CELLS)
                sw.property("ranges", b"")
                for region in handoff.regions:
                    with sw.add_node(region.node_name):
                        for name, value in _region_properties(region, CELLS, CELLS):
                            sw.property(name, value)
        fdt = sw.as_fdt()
        fdt.pack()
        return bytes(fdt.as_bytearray())
    except libfdt.FdtException as exc:
        raise DevicetreeError(f"cannot build the device tree: {exc}") from exc


def _cells(fdt: libfdt.Fdt, node: int, name: str, default: int) -> int:
    value = fdt.getprop(node, name, libfdt.QUIET_NOTFOUND)
    return default if isinstance(value, int) else value.as_uint32()


def _subnode(fdt: libfdt.Fdt, parent: int, name: str) -> tuple[int, bool]:
    node = fdt.subnode_offset(parent, name, libfdt.QUIET_NOTFOUND)
    if node >= 0:
        return node, False
    return fdt.add_subnode(parent, name), True


def insert_into_dtb(dtb: bytes, handoff: DtHandoff) -> bytes:
    """Add the hand-off to an existing DTB (e.g. the one QEMU or a board's
    firmware generated). Existing /chosen and /reserved-memory nodes are
    kept and extended; a new /reserved-memory gets the root's cell sizes and
    `ranges`, as the reserved-memory binding asks."""
    try:
        fdt = libfdt.Fdt(bytearray(dtb))
        fdt.resize(fdt.totalsize() + 1024 + 256 * len(handoff.regions))
        root_address = _cells(fdt, 0, "#address-cells", 2)  # the DT spec's defaults
        root_size = _cells(fdt, 0, "#size-cells", 1)

        chosen, _ = _subnode(fdt, 0, "chosen")
        for name, value in _chosen_properties(handoff, root_address, root_size):
            fdt.setprop(chosen, name, value)

        rmem, created = _subnode(fdt, 0, "reserved-memory")
        if created:
            fdt.setprop_u32(rmem, "#address-cells", root_address)
            fdt.setprop_u32(rmem, "#size-cells", root_size)
            fdt.setprop(rmem, "ranges", b"")
        address_cells = _cells(fdt, rmem, "#address-cells", root_address)
        size_cells = _cells(fdt, rmem, "#size-cells", root_size)
        # libfdt adds a subnode before its siblings: add in reverse to list by address.
        for region in reversed(handoff.regions):
            if fdt.subnode_offset(rmem, region.node_name, libfdt.QUIET_NOTFOUND) >= 0:
                raise DevicetreeError(f"/reserved-memory/{region.node_name} already exists")
            # Offsets shift as the tree grows: look the parent up again each time.
            rmem = fdt.path_offset("/reserved-memory")
            node = fdt.add_subnode(rmem, region.node_name)
            for name, value in _region_properties(region, address_cells, size_cells):
                fdt.setprop(node, name, value)
        fdt.pack()
        return bytes(fdt.as_bytearray())
    except libfdt.FdtException as exc:
        raise DevicetreeError(f"cannot patch the device tree: {exc}") from exc
