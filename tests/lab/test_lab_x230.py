"""lenovo-x230 on the lab: its BIOS-region-only release flashed onto a 12 MiB
dummy-flashrom chip that holds an Intel flash descriptor and fake ME and GbE
regions, with flashrom --ifd -i bios. The board is never booted (no QEMU
machine models an X230): its console is fake_x230_board.py, which prints the
boot markers for what the chip holds. What is proven is the flash: the
descriptor, ME and GbE regions are byte-for-byte what they were after a flash,
after a rollback and after refusals, and the BIOS region holds what was written.

The chip model: one 12 MiB chip (flashrom's dummy VARIABLE_SIZE, which probes
as "Opaque flash chip", as flashrom -p internal does on an X230 through the PCH's
hardware sequencing). The X230 has an 8 MiB and a 4 MiB chip; the PCH and its
descriptor see them as one 12 MiB address space, with the BIOS region
0x500000-0xbfffff spanning both, so only that model holds the descriptor, ME,
GbE and the whole BIOS region in one flashrom run.
"""

from __future__ import annotations

import hashlib
import json
import random
import struct
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from labkit import EXIT, LabRun, _script, free_port, make_root, serve, toml_value
from warmboot.release import create_release
from wbtest import build_board

BOARD = "lenovo-x230"
SIZE = 12 << 20
CHIP = "Opaque flash chip"
FAKE_BOARD = Path(__file__).with_name("fake_x230_board.py")
# The stock X230 descriptor's regions (coreboot-config/boards/lenovo-x230/board.toml).
REGIONS = {
    "fd": (0x000000, 0x000FFF),
    "gbe": (0x001000, 0x002FFF),
    "me": (0x003000, 0x4FFFFF),
    "bios": (0x500000, 0xBFFFFF),
}

pytestmark = pytest.mark.slow  # builds lenovo-x230 (coreboot; the kernel is qemu-q35's)


def descriptor(regions: dict[str, tuple[int, int]]) -> bytes:
    """A 6/7-series (Cougar/Panther Point) Intel flash descriptor, as flashrom --ifd reads
    it: two components (8 + 4 MiB), the five regions, masters with full access."""
    fd = bytearray(b"\xff" * 0x1000)
    struct.pack_into("<I", fd, 0x10, 0x0FF0A55A)
    flmap0 = 0x03 | (1 << 8) | (0x04 << 16) | (4 << 24)  # FCBA 0x30, 2 chips, FRBA 0x40
    flmap1 = 0x06 | (2 << 8) | (0x10 << 16) | (0x12 << 24)  # FMBA 0x60, FISBA 0x100, ISL 18
    flmap2 = 0x20 | (1 << 8) | (0x21 << 16)  # FMSBA 0x200, MSL 1, ICCRIBA
    struct.pack_into("<III", fd, 0x14, flmap0, flmap1, flmap2)
    struct.pack_into("<I", fd, 0x30, 5 | (4 << 3))  # 8 MiB + 4 MiB
    for index, name in enumerate(("fd", "bios", "me", "gbe")):
        start, end = regions[name]
        struct.pack_into("<I", fd, 0x40 + 4 * index, (start >> 12) | ((end >> 12) << 16))
    struct.pack_into("<I", fd, 0x50, 0x00001FFF)  # pd: unused
    for index in range(3):
        struct.pack_into("<I", fd, 0x60 + 4 * index, 0xFFFF0000)
    for offset in (0x100, 0x200, 0xEFC):
        struct.pack_into("<I", fd, offset, 0)
    return bytes(fd)


def chip_image(bios: bytes, regions=REGIONS) -> bytes:
    """The board's flash before the lab touches it: its descriptor, fake GbE and ME
    (random bytes: any change shows), and the BIOS region."""
    rng = random.Random(230)
    data = bytearray(SIZE)
    data[0:0x1000] = descriptor(regions)
    for name in ("gbe", "me"):
        start, end = regions[name]
        data[start : end + 1] = rng.randbytes(end - start + 1)
    start, end = regions["bios"]
    data[start : end + 1] = bios[start : end + 1]
    return bytes(data)


def release_url(server, version: str) -> str:
    return f"{server.url}/dist/{BOARD}/{version}/"


def not_bios(data: bytes) -> bytes:
    return data[: REGIONS["bios"][0]]


@pytest.fixture(scope="module")
def x230():
    return build_board(BOARD)


@pytest.fixture(scope="module")
def x230_releases(x230, tmp_path_factory):
    """1.0.0: the build; 1.1.0: plus a CBFS file; 1.2.0: plus a file holding BROKEN-IMAGE
    (the stand-in board fails on it); 1.3.0: one byte in the ME region."""
    work = tmp_path_factory.mktemp("x230-signing")
    served = tmp_path_factory.mktemp("x230-served")
    built = x230.rom.read_bytes()
    images = {"1.0.0": built}
    for version, content in (
        ("1.1.0", b"warmboot lab test: the new x230 image\n"),
        ("1.2.0", b"BROKEN-IMAGE\n"),
    ):
        rom, payload = work / f"{version}.rom", work / f"{version}.txt"
        rom.write_bytes(built)
        payload.write_bytes(content)
        subprocess.run(
            [
                x230.cbfstool,
                rom,
                "add",
                "-r",
                "COREBOOT",
                "-t",
                "raw",
                "-n",
                "test/marker",
                "-f",
                payload,
            ],
            check=True,
            capture_output=True,
        )
        images[version] = rom.read_bytes()
    outside = bytearray(built)
    outside[0x3000] ^= 0x5A
    images["1.3.0"] = bytes(outside)
    now = datetime.now(UTC).replace(microsecond=0)
    root_file, release_key = make_root(work, now)
    for version, image in images.items():
        rom = work / f"release-{version}.rom"
        rom.write_bytes(image)
        create_release(
            served / "dist" / BOARD / version,
            rom=rom,
            manifest=x230.manifest,
            board=BOARD,
            version=version,
            security_version=1,
            expires=now + timedelta(days=30),
            signers=[release_key],
            root_chain=[root_file],
        )
    server, httpd = serve(served)
    yield images, root_file, server
    httpd.shutdown()
    httpd.server_close()


class Bench:
    """The X230 place: its chip, power scripts around the stand-in console."""

    def __init__(self, home: Path, root_file: Path):
        self.home, self.root_file, self.port = home, root_file, free_port()
        self.chip = home / "chip.bin"
        _script(
            home / "power-on",
            f"""#!/bin/sh
dir=$(dirname "$0")
if [ -f "$dir/board.pid" ] && kill -0 "$(cat "$dir/board.pid")" 2>/dev/null; then exit 0; fi
{sys.executable} {FAKE_BOARD} {self.port} "$dir/chip.bin" </dev/null >>"$dir/board.log" 2>&1 &
echo $! > "$dir/board.pid"
""",
        )
        _script(
            home / "power-off",
            """#!/bin/sh
dir=$(dirname "$0")
[ -f "$dir/board.pid" ] || exit 0
kill "$(cat "$dir/board.pid")" 2>/dev/null
sleep 0.2
rm -f "$dir/board.pid"
""",
        )

    def config(self, layout: str = 'layout = "ifd"\nregions = ["bios"]') -> Path:
        path = self.home / "lab.toml"
        path.write_text(f"""[lab]
runs = "runs"
locks = "locks"
cache = "cache"
root = {toml_value(str(self.root_file))}

[places.x230]
board = "{BOARD}"

[places.x230.flashrom]
programmer = "dummy:emulate=VARIABLE_SIZE,size={SIZE},image={self.chip}"
chip = "{CHIP}"
size = {SIZE}
{layout}

[places.x230.power]
on = {toml_value(str(self.home / "power-on"))}
off = {toml_value(str(self.home / "power-off"))}
cycle_delay = 0.1

[places.x230.console]
tcp = "127.0.0.1:{self.port}"

[places.x230.boot]
markers = [
    {{ name = "coreboot", regex = 'coreboot-4\\.15\\S* .* bootblock starting', timeout = 20 }},
    {{ name = "linuxboot", text = "warmboot: linuxboot ready", timeout = 20 }},
]
failures = ["Payload not loaded"]
""")
        return path

    def flash(self, url: str, name: str, config: Path | None = None) -> LabRun:
        run_dir = self.home / name
        proc = subprocess.run(
            [
                sys.executable,
                "-m",
                "warmboot.lab.cli",
                "flash",
                "--config",
                str(config or self.config()),
                "--place",
                "x230",
                "--release",
                url,
                "--run-dir",
                str(run_dir),
            ],
            capture_output=True,
            text=True,
            timeout=300,
        )
        return LabRun(proc.returncode, proc.stdout, proc.stderr, run_dir)


def test_x230_build_is_the_bios_region_only_with_its_fmap_and_layout(x230):
    rom = x230.rom.read_bytes()
    assert len(rom) == SIZE
    assert set(rom[: REGIONS["bios"][0]]) == {0xFF}  # no descriptor, ME or GbE in it
    layout = (x230.build / "flash.layout").read_text()
    assert "00500000:00bfffff bios\n" in layout and "00003000:004fffff me\n" in layout
    manifest = json.loads(x230.manifest.read_text())
    flash = manifest["board"]["flash"]
    assert flash["write"] == ["bios"] and flash["fmap_area"] == "BIOS"
    assert {"name": "bios", "start": 0x500000, "end": 0xBFFFFF} in flash["regions"]
    assert (
        manifest["outputs"]["flash.layout"]["sha256"] == hashlib.sha256(layout.encode()).hexdigest()
    )
    config = (x230.build / "coreboot" / "config").read_text()
    assert "CONFIG_WARMBOOT_PMT=y" in config and "CONFIG_HAVE_SMI_HANDLER=y" in config
    assert "# CONFIG_HAVE_IFD_BIN is not set" in config
    assert "CONFIG_CPU_MICROCODE_CBFS_NONE=y" in config


def test_bios_region_flash_and_rollback_leave_descriptor_me_and_gbe_untouched(
    x230_releases, tmp_path
):
    images, root_file, server = x230_releases
    bench = Bench(tmp_path, root_file)
    original = chip_image(images["1.0.0"])
    bench.chip.write_bytes(original)
    try:
        ok = bench.flash(release_url(server, "1.1.0"), "run-ok")
        assert ok.returncode == EXIT["OK"], ok.stderr
        after = bench.chip.read_bytes()
        assert not_bios(after) == not_bios(original)  # fd, GbE, ME: byte for byte
        assert after[0x500000:] == images["1.1.0"][0x500000:]
        record = ok.record
        write = next(c for c in record["commands"] if c["label"] == "write")
        assert write["argv"][-3:] == ["--ifd", "-i", "bios"]
        regions = next(s for s in record["steps"] if s["name"] == "regions")["detail"]
        assert regions["region"] == "bios" and regions["descriptor"]["me"] == {
            "start": 0x3000,
            "end": 0x4FFFFF,
        }
        verify = next(s for s in record["steps"] if s["name"] == "verify")
        assert verify["detail"]["region"]["start"] == 0x500000

        before = bench.chip.read_bytes()
        failed = bench.flash(release_url(server, "1.2.0"), "run-rollback")
        assert failed.returncode == EXIT["ROLLED_BACK"], failed.stderr
        assert bench.chip.read_bytes() == before  # the whole chip, as it was
        rollback = [
            c["argv"]
            for c in failed.record["commands"]
            if c["label"] in ("rollback-write", "rollback-verify")
        ]
        assert rollback and all(argv[-3:] == ["--ifd", "-i", "bios"] for argv in rollback)
    finally:
        subprocess.run([tmp_path / "power-off"], check=False)


def test_image_that_would_write_outside_the_bios_region_is_refused(x230_releases, tmp_path):
    images, root_file, server = x230_releases
    bench = Bench(tmp_path, root_file)
    original = chip_image(images["1.0.0"])
    bench.chip.write_bytes(original)
    url = release_url(server, "1.1.0")
    try:
        # An image with a byte in the ME region.
        outside = bench.flash(release_url(server, "1.3.0"), "run-outside")
        assert outside.returncode == EXIT["REFUSED"], outside.stderr
        assert outside.record["error_type"] == "RegionError"
        assert (
            "1 non-erased bytes outside the bios region (the first at 0x3000)"
            in outside.record["message"]
        )
        # A place that would write the whole chip.
        whole = bench.flash(url, "run-whole", bench.config(layout=""))
        assert whole.returncode == EXIT["REFUSED"], whole.stderr
        assert "writes the whole chip" in whole.record["message"]
        # A chip whose descriptor puts the BIOS region elsewhere (a shrunk ME).
        other = dict(REGIONS, me=(0x3000, 0x1FFFFF), bios=(0x200000, 0xBFFFFF))
        bench.chip.write_bytes(chip_image(images["1.0.0"], other))
        moved = bench.chip.read_bytes()
        elsewhere = bench.flash(url, "run-descriptor")
        assert elsewhere.returncode == EXIT["REFUSED"], elsewhere.stderr
        assert (
            "the chip's flash descriptor puts the bios region at 0x200000-0xbfffff"
            in elsewhere.record["message"]
        )
        assert bench.chip.read_bytes() == moved
        for run in (outside, whole, elsewhere):
            assert not any("-w" in c["argv"] for c in run.record["commands"])
    finally:
        subprocess.run([tmp_path / "power-off"], check=False)
