"""Seed inputs for the fuzz targets, built with the project's own encoders.

`python tests/fuzz/seeds.py DIR TARGET` writes a few well-formed inputs for
TARGET into DIR; tests/fuzz/run uses them the first time a target runs, and
the minimized corpus in tests/fuzz/corpus/TARGET afterwards.
"""

from __future__ import annotations

import json
import random
import struct
import sys
from pathlib import Path

TOP = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(TOP / "python"), str(TOP / "tests" / "handoff"), str(TOP / "tests")]


def pmt_inputs() -> list[bytes]:
    from pmt_samples import FIRMWARE_RANGES, random_valid_table
    from warmboot import pmt

    rng = random.Random(16)
    out = []
    for i in range(12):
        table = pmt.encode(random_valid_table(rng))
        ranges = FIRMWARE_RANGES if i % 2 else ()
        mode = (len(ranges) << 2) | (2 if i % 3 == 0 else 0)
        head = bytes([mode]) + b"".join(struct.pack("<QQ", b, s) for b, s in ranges)
        if mode & 2:
            head += table[80:88]  # the table's own arm_cookie
        out.append(head + table)
    return out


def warmboot_check_inputs() -> list[bytes]:
    """The table pmtctl arms on q35 (tests/fuzz/c/fuzz_warmboot_check.c modes 6, 7)."""
    from pmt_samples import q35_armed_table
    from warmboot import pmt

    data = pmt.encode(q35_armed_table())
    return [bytes([6]) + data, bytes([7]) + data]


def elfcore_inputs() -> list[bytes]:
    from warmboot.vmcore import elfcore

    out = []
    for sel, machine in ((0, 62), (1, 183)):
        layout = elfcore.machine_layout(machine)
        note = elfcore.prstatus_note(layout, list(range(len(layout.gregs))), pid=7)
        out.append(bytes([sel]) + note + bytes(12))
    text = (
        b"OSRELEASE=6.1.0\nPAGESIZE=4096\nNUMBER(pgtable_l5_enabled)=0\n"
        b"NUMBER(VA_BITS)=48\nNUMBER(PHYS_OFFSET)=0x40000000\nCRASHTIME=1700000000\n"
    )
    out.append(bytes([2]) + elfcore.vmcoreinfo_note(text))
    out.append(bytes([3]) + elfcore.vmcoreinfo_note(text))
    out.append(bytes([4]) + text + b"NUMBER(page_offset_base)=0xffff888000000000\n")
    return out


def cbtable_inputs() -> list[bytes]:
    from warmboot.handoff import cbtable

    pmt_rec = cbtable.PmtRecord(
        anchor_addr=0x3FECE000,
        anchor_size=0x10000,
        flags=1,
        generation=3,
        boot_window_base=0x100000,
        boot_window_size=0x4F00000,
    )
    mem = cbtable.MemoryRecord(
        ranges=(cbtable.MemoryRange(0, 0xA0000, 1), cbtable.MemoryRange(0x100000, 0x3FE00000, 1))
    )
    real = cbtable.encode_table([mem, pmt_rec])
    forward = cbtable.encode_table([cbtable.ForwardRecord(forward=0x400)])
    image = bytearray(0x800)
    image[0 : len(forward)] = forward
    image[0x400 : 0x400 + len(real)] = real
    return [bytes([0]) + real, bytes([1]) + bytes(image), bytes([0]) + bytes(image)]


def dtfw_inputs() -> list[bytes]:
    def prop(data: bytes | None) -> bytes:
        return b"\xff" if data is None else bytes([len(data)]) + data

    cells = struct.pack(">I", 2)
    size_cells = struct.pack(">I", 2)
    pair = struct.pack(">QQ", 0x7FE00000, 0x10000)
    window = struct.pack(">QQ", 0x60100000, 0x6000000)
    mailbox = struct.pack(">QQ", 0x7FE10000, 16)
    pmt_at = struct.pack(">QQ", 0x0, 0x1000)
    status = struct.pack(">IIII", 0x50001, 0, 1, 0xFFFFFFFF)
    header = b"WBOOTPMT" + bytes(24) + struct.pack("<Q", 5)
    full = (
        b"".join(
            prop(p) for p in (cells, size_cells, pair, window, mailbox, pmt_at, status, b"smc\0")
        )
        + header
    )
    bare = b"".join(prop(p) for p in (None, None, pair, window, None, None, None, b"hvc\0"))
    return [full, bare]


def release_inputs() -> list[bytes]:
    fixtures = TOP / "tests" / "release" / "fixtures" / "pre-hardening"
    from warmboot.release.envelope import decode_envelope

    out = []
    release = (fixtures / "release" / "release.json").read_bytes()
    root = (fixtures / "root.json").read_bytes()
    state = (fixtures / "state.json").read_bytes()
    out.append(bytes([0]) + release)
    out.append(bytes([1]) + decode_envelope(release).payload)
    out.append(bytes([2]) + decode_envelope(root).payload)
    out.append(bytes([3]) + state)
    rom = (fixtures / "release" / "coreboot.rom").read_bytes()
    at = rom.find(b"__FMAP__")
    out.append(bytes([4]) + rom[max(0, at - 64) : at + 512])
    out.append(bytes([5]) + decode_envelope(root).payload)
    out.append(bytes([6]) + decode_envelope(release).payload)
    out.append(bytes([7]) + root)
    return out


def lab_inputs() -> list[bytes]:
    config = b"""[lab]
runs = "runs"
locks = "locks"
cache = "cache"

[places.bench]
board = "qemu-q35"

[places.bench.flashrom]
programmer = "linux_spi:dev=/dev/spidev0.0"
chip = "W25Q128.V"
size = 16777216

[places.bench.power]
on = "true"
off = "true"

[places.bench.console]
tcp = "127.0.0.1:4555"
"""
    journal = json.dumps(
        {
            "format": "warmboot-lab-place",
            "format_version": 1,
            "flash": "WRITING",
            "run_dir": "runs/bench/1",
            "step": "write",
            "since": "2024-01-01T00:00:00Z",
            "reason": None,
            "good_backup": {
                "path": "runs/bench/0/backup.rom",
                "sha256": "0" * 64,
                "length": 16777216,
                "run_dir": "runs/bench/0",
                "taken": "2024-01-01T00:00:00Z",
            },
        }
    ).encode()
    probe = (
        b'Found Winbond flash chip "W25Q128.V" (16384 kB, SPI) on linux_spi.\n'
        b'Found Winbond flash chip "W25Q128.JW..M" (16384 kB, SPI) on linux_spi.\n'
    )
    return [b"\0" + config, b"\1" + journal, b"\2" + probe]


SEEDS = {
    "pmt_validate": pmt_inputs,
    "warmboot_check": warmboot_check_inputs,
    "elfcore": elfcore_inputs,
    "cbtable": cbtable_inputs,
    "dtfw": dtfw_inputs,
    "release": release_inputs,
    "lab": lab_inputs,
}


def main() -> None:
    directory, target = Path(sys.argv[1]), sys.argv[2]
    directory.mkdir(parents=True, exist_ok=True)
    for index, data in enumerate(SEEDS[target]()):
        (directory / f"seed-{index:02d}").write_bytes(data)


if __name__ == "__main__":
    main()
