"""Fixtures for the release tests: throwaway keys, a small ROM, roots, releases.

Keys are generated per session in memory (never from or into the repository).
Most tests use a 64 KiB synthetic ROM with a coreboot-shaped FMAP so the
suite stays fast; the tests that need coreboot's real ROM or cbfstool use the
qemu-q35 build.
"""

from __future__ import annotations

import random
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from warmboot.release import (
    ED25519,
    RELEASE_ENVELOPE_FILE,
    RELEASE_PAYLOAD_TYPE,
    ROOT_PAYLOAD_TYPE,
    Envelope,
    FileSigner,
    Fmap,
    FmapArea,
    SignedRoot,
    add_signatures,
    build_root,
    create_release,
    decode_envelope,
    encode_envelope,
    encode_fmap,
    load_trusted_root,
    unsigned_root_envelope,
    verify_release,
)
from warmboot.release.keys import ECDSA_P256, generate_private_key, signer_from_private_key

# A fixed clock: tests never depend on when they run.
NOW = datetime(2030, 1, 1, tzinfo=UTC)
BOARD = "qemu-q35"
MANIFEST = b'{"sources": {"coreboot": "sha256:00"}, "tools": {"gcc": "12.2.0"}}\n'

KEY_NAMES = (
    "root1",
    "root2",
    "root3",
    "newroot1",
    "newroot2",
    "rel1",
    "rel2",
    "rel3",
    "newrel1",
    "newrel2",
    "stranger",
)


def synthetic_rom(size: int = 0x10000, seed: int = 1) -> bytes:
    """A ROM laid out like coreboot's qemu-q35 one, scaled down, with random contents."""
    half = size // 2
    fmap = Fmap(
        offset=half,
        base=0x1_0000_0000 - size,
        size=size,
        name="FLASH",
        areas=(
            FmapArea("BIOS", half, half),
            FmapArea("FMAP", half, 0x200),
            FmapArea("COREBOOT", half + 0x200, half - 0x200),
        ),
    )
    image = bytearray(random.Random(seed).randbytes(size))
    encoded = encode_fmap(fmap)
    image[half : half + len(encoded)] = encoded
    return bytes(image)


@pytest.fixture(scope="session")
def keys() -> dict[str, FileSigner]:
    signers = {name: signer_from_private_key(generate_private_key(ED25519)) for name in KEY_NAMES}
    signers["ecdsa1"] = signer_from_private_key(generate_private_key(ECDSA_P256))
    signers["ecdsa2"] = signer_from_private_key(generate_private_key(ECDSA_P256))
    return signers


@pytest.fixture(scope="session")
def rom() -> bytes:
    return synthetic_rom()


@pytest.fixture
def real_rom(q35, tmp_path: Path) -> Path:
    """A copy of the qemu-q35 coreboot.rom that `scons board=qemu-q35` built."""
    copy = tmp_path / "real-coreboot.rom"
    shutil.copyfile(q35.rom, copy)
    return copy


@dataclass
class ReleaseLab:
    """Builds roots and releases for one test, in its tmp_path."""

    tmp_path: Path
    keys: dict[str, FileSigner]
    rom: bytes
    now: datetime = NOW
    board: str = BOARD
    manifest: bytes = MANIFEST

    def root_bytes(
        self,
        version: int = 1,
        *,
        root_keys: Sequence[str] = ("root1", "root2"),
        root_threshold: int = 2,
        release_keys: Sequence[str] = ("rel1", "rel2", "rel3"),
        release_threshold: int = 2,
        signed_by: Sequence[str] | None = None,
        expires: datetime = NOW + timedelta(days=365),
    ) -> bytes:
        metadata = build_root(
            version=version,
            expires=expires,
            root_keys=[self.keys[k].public_key for k in root_keys],
            root_threshold=root_threshold,
            release_keys=[self.keys[k].public_key for k in release_keys],
            release_threshold=release_threshold,
        )
        signers = [self.keys[k] for k in (root_keys if signed_by is None else signed_by)]
        return encode_envelope(add_signatures(unsigned_root_envelope(metadata), signers))

    def trusted_root(self, data: bytes | None = None) -> SignedRoot:
        return load_trusted_root(data if data is not None else self.root_bytes())

    def write(self, name: str, data: bytes) -> Path:
        path = self.tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        return path

    def release(
        self,
        version: str = "1.0.0",
        *,
        security_version: int = 1,
        signed_by: Sequence[str] = ("rel1", "rel2"),
        board: str = BOARD,
        rom: bytes | None = None,
        roots: Sequence[bytes] = (),
        expires: datetime = NOW + timedelta(days=90),
        name: str | None = None,
    ) -> Path:
        """dist/<board>/<version>/ (or dist/<name>/) signed by `signed_by`."""
        out = self.tmp_path / "dist" / (name or f"{board}/{version}")
        rom_path = self.write(f"build/{name or board + version}.rom", rom or self.rom)
        manifest_path = self.write(f"build/{name or board + version}.manifest.json", MANIFEST)
        root_paths = [
            self.write(f"roots-in/{index + 1}.root.json", data) for index, data in enumerate(roots)
        ]
        create_release(
            out,
            rom=rom_path,
            manifest=manifest_path,
            board=board,
            version=version,
            security_version=security_version,
            expires=expires,
            signers=[self.keys[k] for k in signed_by],
            root_chain=root_paths,
            now=NOW,
        )
        return out

    def signed_root(self, payload: bytes, signed_by: Sequence[str] = ("root1", "root2")) -> bytes:
        """A root envelope of exactly `payload` (however hostile), signed by `signed_by`."""
        return encode_envelope(
            add_signatures(Envelope(ROOT_PAYLOAD_TYPE, payload), [self.keys[k] for k in signed_by])
        )

    def resign_release(
        self, release_dir: Path, payload: bytes, signed_by: Sequence[str] = ("rel1", "rel2")
    ) -> None:
        """Replace the release's payload by `payload`, signed by `signed_by`."""
        envelope = Envelope(RELEASE_PAYLOAD_TYPE, payload)
        (release_dir / RELEASE_ENVELOPE_FILE).write_bytes(
            encode_envelope(add_signatures(envelope, [self.keys[k] for k in signed_by]))
        )

    def payload(self, release_dir: Path) -> bytes:
        """The payload bytes of a release's envelope."""
        return decode_envelope((release_dir / RELEASE_ENVELOPE_FILE).read_bytes()).payload

    def verify(self, release_dir: Path, trusted: bytes | SignedRoot | None = None, **options):
        options.setdefault("board", BOARD)
        options.setdefault("now", NOW)
        if not isinstance(trusted, SignedRoot):
            trusted = self.trusted_root(trusted)
        return verify_release(release_dir, trusted, **options)


@pytest.fixture
def lab(tmp_path: Path, keys: dict[str, FileSigner], rom: bytes) -> ReleaseLab:
    return ReleaseLab(tmp_path, keys, rom)


def flip(path: Path, offset: int, mask: int = 0x01) -> None:
    """XOR one byte of a file in place."""
    data = bytearray(path.read_bytes())
    data[offset] ^= mask
    path.write_bytes(bytes(data))


@pytest.fixture
def flip_byte():
    return flip


@pytest.fixture
def make_rom():
    return synthetic_rom


@pytest.fixture
def cbfstool(q35) -> Path:
    """The cbfstool built with that coreboot."""
    return q35.cbfstool
