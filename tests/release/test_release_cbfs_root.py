"""The release root embedded in the image's CBFS, with coreboot's real cbfstool."""

from __future__ import annotations

import subprocess

import pytest

from warmboot.release import (
    RELEASE_ROOT_CBFS_NAME,
    cbfstool_add_release_root_argv,
    errors,
    load_trusted_root,
    release_root_cbfs_file,
)


def test_root_added_with_cbfstool_extracts_byte_for_byte_and_the_release_verifies(
    lab, real_rom, cbfstool
):
    root = lab.root_bytes()
    root_file = lab.write("release-root.json", release_root_cbfs_file(root))
    subprocess.run(
        cbfstool_add_release_root_argv(cbfstool, real_rom, root_file),
        check=True,
        capture_output=True,
    )
    listing = subprocess.run(
        [str(cbfstool), str(real_rom), "print", "-r", "COREBOOT"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    assert RELEASE_ROOT_CBFS_NAME in listing
    extracted = lab.tmp_path / "extracted.json"
    subprocess.run(
        [
            str(cbfstool),
            str(real_rom),
            "extract",
            "-r",
            "COREBOOT",
            "-n",
            RELEASE_ROOT_CBFS_NAME,
            "-f",
            str(extracted),
        ],
        check=True,
        capture_output=True,
    )
    assert extracted.read_bytes() == root
    assert load_trusted_root(extracted.read_bytes()).fingerprint == lab.trusted_root().fingerprint
    # Embedding comes before signing, so the signed image hash covers the root.
    release_dir = lab.release(rom=real_rom.read_bytes())
    assert lab.verify(release_dir, root).image == real_rom.read_bytes()


def test_only_a_verifiable_root_is_embedded(lab):
    with pytest.raises(errors.ThresholdNotMetError, match="1 of the 2 required root keys"):
        release_root_cbfs_file(lab.root_bytes(signed_by=("root1",)))
    with pytest.raises(errors.EnvelopeFormatError):
        release_root_cbfs_file(b"not json")
