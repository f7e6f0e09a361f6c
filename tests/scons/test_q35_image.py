"""`scons board=qemu-q35` produces a ROM holding the LinuxBoot payload, and a
manifest that names every input's hash and the outputs' real hashes."""

import hashlib
import json
import subprocess
import tomllib

from wbtest import TOP


def test_rom_cbfs_holds_the_linuxboot_payload(q35):
    listing = subprocess.run(
        [str(q35.cbfstool), str(q35.rom), "print"], capture_output=True, text=True, check=True
    ).stdout
    rows = {line.split()[0]: line.split() for line in listing.splitlines() if line.strip()}
    assert "fallback/payload" in rows, listing
    assert rows["fallback/payload"][2:4] == ["simple", "elf"], listing
    assert "fallback/romstage" in rows and "fallback/ramstage" in rows
    assert q35.rom.stat().st_size == 16 * 1024 * 1024


def test_rom_embeds_the_coreboot_4_15_config_it_was_built_from(q35, tmp_path):
    out = tmp_path / "config"
    subprocess.run(
        [str(q35.cbfstool), str(q35.rom), "extract", "-n", "config", "-f", str(out)],
        capture_output=True,
        check=True,
    )
    lines = out.read_text().splitlines()
    assert lines[0].startswith("# This image was built using coreboot 4.15")
    assert "CONFIG_BOARD_EMULATION_QEMU_X86_Q35=y" in lines
    assert "CONFIG_COREBOOT_ROMSIZE_KB_16384=y" in lines
    assert "CONFIG_PAYLOAD_NONE=y" in lines  # the payload is added by cbfstool, not make


def test_manifest_lists_pinned_inputs_tools_and_output_hashes(q35):
    manifest = json.loads(q35.manifest.read_text())
    lock = tomllib.loads((TOP / "coreboot-config/sources.lock.toml").read_text())["sources"]
    for name in ("coreboot", "linux", "busybox-amd64"):
        pinned = [f["sha256"] for f in lock[name]["files"]]
        assert [f["sha256"] for f in manifest["inputs"][name]["files"]] == pinned
    assert "gcc" in manifest["tools"]["coreboot"]["gcc"]
    assert manifest["tools"]["coreboot"]["iasl"].endswith("20200925")
    for label, out in manifest["outputs"].items():
        data = (TOP / out["path"]).read_bytes()
        assert hashlib.sha256(data).hexdigest() == out["sha256"], label
    assert manifest["board"]["name"] == "qemu-q35"


def test_kernel_config_kept_every_requested_option(q35):
    config = (q35.build / "linux" / "config").read_text()
    for option in (
        "CONFIG_SERIAL_8250_CONSOLE=y",
        "CONFIG_BLK_DEV_INITRD=y",
        "CONFIG_VIRTIO_BLK=y",
        "CONFIG_KEXEC=y",
        "CONFIG_CRASH_DUMP=y",
        "CONFIG_DEVTMPFS=y",
        "CONFIG_PCI=y",
    ):
        assert option in config.splitlines(), option
