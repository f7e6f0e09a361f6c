"""The device-tree hand-off, judged by dtc and libfdt."""

from __future__ import annotations

import dataclasses
import re
import shutil
import subprocess

import libfdt
import pytest
from hypothesis import given, settings

from pmt_samples import valid_tables
from warmboot import pmt
from warmboot.handoff.devicetree import (
    DevicetreeError,
    handoff_from_pmt,
    insert_into_dtb,
    to_dtb,
    to_dts,
)
from warmboot.pmt import EntryStatus, EntryType, Pmt, PmtEntry, PmtFlags

TABLE = Pmt(
    e_machine=pmt.EM_AARCH64,
    cpu_count=2,
    table_addr=0x4010_0000,
    flags=PmtFlags.ARMED | PmtFlags.WARM_RESET_SEEN | PmtFlags.COPY_DONE,
    reset_cause=pmt.ResetCause.WARM_RESET,
    reject_entry=pmt.NO_ENTRY,
    entries=(
        PmtEntry(EntryType.TABLE, 0x4010_0000, 0x1000),
        PmtEntry(EntryType.PRESERVE, 0x4010_0000, 0x10_0000, fw_status=EntryStatus.PRESERVED),
        PmtEntry(EntryType.PRESERVE, 0x1_0000_0000, 0x4000_0000, fw_status=EntryStatus.PRESERVED),
        PmtEntry(
            EntryType.BOOT_COPY,
            0x4000_0000,
            0x1_0000,
            dest=0x4800_0000,
            fw_status=EntryStatus.COPIED,
        ),
    ),
)


def dtc(*args: str, data: bytes) -> bytes:
    result = subprocess.run(["dtc", *args, "-"], input=data, capture_output=True)
    assert result.returncode == 0, result.stderr.decode()
    return result.stdout


def dtb_to_dts(dtb: bytes) -> str:
    return dtc("-q", "-I", "dtb", "-O", "dts", data=dtb).decode()


def node_block(dts: str, name: str) -> str:
    m = re.search(rf"\n(\t+){re.escape(name)} \{{\n(.*?)\n\1\}};", dts, re.S)
    assert m, f"node {name} not in:\n{dts}"
    return m[2]


def test_dtc_reads_back_every_region_and_the_chosen_properties():
    dts = dtb_to_dts(to_dtb(handoff_from_pmt(TABLE)))
    rmem = node_block(dts, "reserved-memory")
    assert "#address-cells = <0x02>;" in rmem and "#size-cells = <0x02>;" in rmem
    assert "\t\tranges;" in rmem
    preserved = node_block(dts, "warmboot-preserved@40100000")
    assert "reg = <0x00 0x40100000 0x00 0x100000>;" in preserved
    assert "reg = <0x01 0x00 0x00 0x40000000>;" in node_block(dts, "warmboot-preserved@100000000")
    copy = node_block(dts, "warmboot-boot-copy@48000000")
    assert "reg = <0x00 0x48000000 0x00 0x10000>;" in copy
    assert "warmboot,copy-of = <0x00 0x40000000>;" in copy
    assert 'compatible = "warmboot,preserved-memory";' in copy
    assert "no-map" not in rmem
    chosen = node_block(dts, "chosen")
    assert f"warmboot,pmt = <0x00 0x40100000 0x00 {TABLE.total_size:#04x}>;" in chosen
    assert "warmboot,pmt-status = <0x50001 0x00 0x01 0xffffffff>;" in chosen


def test_our_dts_compiled_by_dtc_is_the_same_tree_as_our_dtb():
    handoff = handoff_from_pmt(TABLE)
    compiled = dtc("-I", "dts", "-O", "dtb", data=to_dts(handoff).encode())
    assert dtb_to_dts(compiled) == dtb_to_dts(to_dtb(handoff))


def test_dtc_has_no_warnings_for_our_source():
    result = subprocess.run(
        ["dtc", "-I", "dts", "-O", "dtb", "-o", "/dev/null", "-"],
        input=to_dts(handoff_from_pmt(TABLE)).encode(),
        capture_output=True,
    )
    assert result.returncode == 0 and result.stderr == b""


def test_no_map_is_set_on_request():
    dts = dtb_to_dts(to_dtb(handoff_from_pmt(TABLE, no_map=True)))
    assert node_block(dts, "warmboot-preserved@40100000").count("no-map;") == 1
    assert node_block(dts, "warmboot-boot-copy@48000000").count("no-map;") == 1


def test_regions_firmware_did_not_keep_are_not_reserved_but_the_table_is():
    rejected = dataclasses.replace(
        TABLE,
        flags=TABLE.flags | PmtFlags.REJECTED,
        reject_reason=pmt.RejectReason.OVERLAP,
        entries=tuple(dataclasses.replace(e, fw_status=EntryStatus.SKIPPED) for e in TABLE.entries),
    )
    dts = dtb_to_dts(to_dtb(handoff_from_pmt(rejected)))
    assert "warmboot-preserved@" not in dts and "warmboot-boot-copy@" not in dts
    assert "reg = <0x00 0x40100000 0x00 0x1000>;" in node_block(dts, "warmboot-pmt@40100000")
    assert "warmboot,pmt-status = <0xd0001 0x13 0x01 0xffffffff>;" in node_block(dts, "chosen")


@settings(max_examples=40, deadline=None)
@given(valid_tables())
def test_every_valid_table_gives_a_tree_libfdt_reads_back(table):
    fdt = libfdt.Fdt(to_dtb(handoff_from_pmt(table)))
    rmem = fdt.path_offset("/reserved-memory")
    reserved = set()
    node = fdt.first_subnode(rmem, libfdt.QUIET_NOTFOUND)
    while node >= 0:
        reg = bytes(fdt.getprop(node, "reg"))
        reserved.add((int.from_bytes(reg[:8], "big"), int.from_bytes(reg[8:], "big")))
        node = fdt.next_subnode(node, libfdt.QUIET_NOTFOUND)
    kept = {
        (e.dest if e.type == EntryType.BOOT_COPY else e.base, e.size)
        for e in table.entries
        if e.type in pmt.MEMORY_TYPES
        and e.fw_status not in (EntryStatus.SKIPPED, EntryStatus.FAILED)
    }
    assert kept <= reserved
    chosen = fdt.path_offset("/chosen")
    located = bytes(fdt.getprop(chosen, "warmboot,pmt"))
    assert (int.from_bytes(located[:8], "big"), int.from_bytes(located[8:], "big")) == (
        table.table_addr,
        table.total_size,
    )
    # The table's own bytes are always inside some reservation.
    assert any(
        b <= table.table_addr and table.table_addr + table.total_size <= b + s for b, s in reserved
    )


@pytest.fixture(scope="module")
def qemu_virt_dtb(tmp_path_factory) -> bytes:
    if not shutil.which("qemu-system-aarch64"):
        pytest.skip("qemu-system-aarch64 is not installed (Debian package qemu-system-arm)")
    path = tmp_path_factory.mktemp("virt") / "virt.dtb"
    subprocess.run(
        [
            "qemu-system-aarch64",
            "-M",
            f"virt,dumpdtb={path}",
            "-cpu",
            "cortex-a57",
            "-m",
            "2G",
            "-nodefaults",
            "-display",
            "none",
        ],
        capture_output=True,
        check=True,
        timeout=60,
    )
    return path.read_bytes()


@pytest.mark.qemu
def test_nodes_are_added_to_qemu_virts_own_dtb(qemu_virt_dtb):
    patched = insert_into_dtb(qemu_virt_dtb, handoff_from_pmt(TABLE))
    before, after = dtb_to_dts(qemu_virt_dtb), dtb_to_dts(patched)
    # What QEMU put there is still there ...
    assert re.search(r"memory@40000000 \{\n\t\treg = <0x00 0x40000000 0x00 0x80000000>;", after)
    assert 'stdout-path = "/pl011@9000000";' in node_block(after, "chosen")
    assert len(patched) < len(qemu_virt_dtb)  # packed, not QEMU's 1 MiB buffer
    # ... and ours is added.
    assert "warmboot-preserved@" not in before
    assert "reg = <0x01 0x00 0x00 0x40000000>;" in node_block(after, "warmboot-preserved@100000000")
    copy = node_block(after, "warmboot-boot-copy@48000000")
    assert "warmboot,copy-of = <0x00 0x40000000>;" in copy
    chosen = node_block(after, "chosen")
    assert f"warmboot,pmt = <0x00 0x40100000 0x00 {TABLE.total_size:#04x}>;" in chosen
    assert "ranges;" in node_block(after, "reserved-memory")


@pytest.mark.qemu
def test_existing_reserved_memory_node_is_extended(qemu_virt_dtb):
    first = insert_into_dtb(qemu_virt_dtb, handoff_from_pmt(TABLE))
    other = dataclasses.replace(
        TABLE,
        entries=(
            PmtEntry(EntryType.TABLE, 0x4010_0000, 0x1000),
            PmtEntry(EntryType.PRESERVE, 0x5000_0000, 0x1000),
        ),
    )
    second = dtb_to_dts(insert_into_dtb(first, handoff_from_pmt(other)))
    assert second.count("reserved-memory {") == 1
    assert "warmboot-preserved@50000000" in second and "warmboot-preserved@40100000" in second


@pytest.mark.qemu
def test_adding_the_same_region_twice_is_an_error(qemu_virt_dtb):
    once = insert_into_dtb(qemu_virt_dtb, handoff_from_pmt(TABLE))
    with pytest.raises(DevicetreeError, match=r"warmboot-preserved@[0-9a-f]+ already exists"):
        insert_into_dtb(once, handoff_from_pmt(TABLE))


def test_garbage_is_not_a_dtb():
    with pytest.raises(DevicetreeError, match="cannot patch the device tree"):
        insert_into_dtb(b"not a device tree blob" * 4, handoff_from_pmt(TABLE))
