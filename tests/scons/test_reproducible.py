"""Two clean builds of the same tree give a bit-identical coreboot.rom."""

import hashlib

import pytest

from wbtest import run_scons


@pytest.mark.slow
def test_two_clean_builds_give_bit_identical_images(tmp_path):
    digests = []
    for n in (1, 2):
        out = tmp_path / f"build{n}"
        result = run_scons(["--cache-disable", "board=qemu-q35", f"builddir={out}"])
        assert result.returncode == 0, result.output[-3000:]
        assert "[linux] done" in result.output and "[coreboot] done" in result.output
        digests.append(
            {
                name: hashlib.sha256((out / name).read_bytes()).hexdigest()
                for name in (
                    "coreboot.rom",
                    "linux/bzImage",
                    "initramfs/initramfs.cpio.lz4",
                    "coreboot/coreboot-nopayload.rom",
                )
            }
        )
    assert digests[0] == digests[1]
