"""The release root as a CBFS file, so firmware can verify what it boots.

At build time the newest root envelope is added, byte for byte, as a raw
CBFS file in the COREBOOT region:

    cbfstool coreboot.rom add -r COREBOOT -t raw -n warmboot/release-root.json \
        -f release-root.json

LinuxBoot can then read it (cbfs / the flash) and use it as its trust
anchor, walking newer roots and checking release signatures with the same
rules as `warmboot verify`. Embedding happens before the release is signed,
so the image hash in release.json covers the embedded root too.
"""

from __future__ import annotations

from pathlib import Path

from .root import load_trusted_root

RELEASE_ROOT_CBFS_NAME = "warmboot/release-root.json"
RELEASE_ROOT_CBFS_TYPE = "raw"
RELEASE_ROOT_CBFS_REGION = "COREBOOT"


def release_root_cbfs_file(root_envelope: bytes) -> bytes:
    """The bytes to embed: the root envelope itself, after checking it is one.

    It must parse as a root and carry its own root-key threshold; the bytes
    are returned unchanged so the embedded file verifies exactly as root.json does.
    """
    load_trusted_root(root_envelope, "root to embed")
    return root_envelope


def cbfstool_add_release_root_argv(cbfstool: Path, rom: Path, root_file: Path) -> list[str]:
    """The cbfstool command line that adds `root_file` to `rom` (edits rom in place)."""
    return [
        str(cbfstool),
        str(rom),
        "add",
        "-r",
        RELEASE_ROOT_CBFS_REGION,
        "-t",
        RELEASE_ROOT_CBFS_TYPE,
        "-n",
        RELEASE_ROOT_CBFS_NAME,
        "-f",
        str(root_file),
    ]
