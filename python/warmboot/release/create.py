"""Create and co-sign release directories (the build server's side).

create_release() is what the SCons `release` step calls. It writes
dist/<board>/<version>/ in an order that makes release.json the commit
point: roots/, coreboot.rom and manifest.json first, the envelope last and
never over an existing one, so a directory without release.json is an
unfinished release and one with it is complete.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from .encoding import format_timestamp
from .envelope import (
    MAX_ENVELOPE_BYTES,
    RELEASE_PAYLOAD_TYPE,
    Envelope,
    add_signatures,
    encode_envelope,
    read_envelope_file,
)
from .errors import PayloadFormatError, ReleaseExistsError, SignerNotInRootError
from .files import read_capped, write_atomic, write_new
from .keys import Signer
from .layout import (
    MANIFEST_FILE,
    MAX_IMAGE_BYTES,
    MAX_MANIFEST_BYTES,
    RELEASE_ENVELOPE_FILE,
    ROM_FILE,
    ROOTS_DIRECTORY,
)
from .payload import (
    ReleasePayload,
    ReleaseVersion,
    build_release_payload,
    check_board_name,
    decode_release_payload,
    encode_release_payload,
)
from .root import SignedRoot, load_root_file, root_file_name, update_root


@dataclass(frozen=True)
class CreatedRelease:
    """What create_release or sign_release wrote."""

    release_dir: Path
    envelope_path: Path
    payload: ReleasePayload
    signed_by: tuple[str, ...]  # key ids of the envelope's signatures (not re-verified)
    root: SignedRoot | None  # newest root of the chain given, if any

    @property
    def threshold_met(self) -> bool | None:
        """Whether the signatures reach the root's release threshold (None: no root given)."""
        if self.root is None:
            return None
        release = self.root.metadata.release
        return len(set(self.signed_by) & set(release.key_ids)) >= release.threshold


def release_directory(dist: Path, board: str, version: str) -> Path:
    """dist/<board>/<version>/, after checking both names are well-formed."""
    check_board_name(board)
    try:
        ReleaseVersion.parse(version)
    except ValueError as exc:
        raise PayloadFormatError(str(exc)) from None
    return Path(dist) / board / version


def load_root_chain(paths: Sequence[Path]) -> list[SignedRoot]:
    """Root files 1..N in order, each verified against the one before it."""
    chain: list[SignedRoot] = []
    for path in paths:
        if not chain:
            chain.append(load_root_file(Path(path)))
        else:
            chain.append(
                update_root(
                    chain[-1], read_capped(Path(path), MAX_ENVELOPE_BYTES, "root"), str(path)
                )
            )
    return chain


def _check_signers(signers: Sequence[Signer], root: SignedRoot | None) -> None:
    if root is None:
        return
    for signer in signers:
        if signer.key_id not in root.metadata.release.key_ids:
            raise SignerNotInRootError(
                f"key {signer.key_id} is not a release key of root "
                f"version {root.version}; its signature would not count"
            )


def _place(data: bytes, source: Path, target: Path) -> None:
    """Write `data` (read from `source`) to `target`, unless they are one file already."""
    if not (target.exists() and os.path.samefile(source, target)):
        write_atomic(target, data)


def create_release(
    release_dir: Path,
    *,
    rom: Path,
    manifest: Path,
    board: str,
    version: str,
    security_version: int,
    expires: datetime,
    signers: Sequence[Signer],
    root_chain: Sequence[Path] = (),
    now: datetime | None = None,
) -> CreatedRelease:
    """Write a signed release of `rom` (with its build `manifest`) into `release_dir`.

    root_chain: the root files 1..N (oldest first); they are verified,
    copied to roots/N.root.json, and every signer must be a release key of
    the newest. Signing with fewer keys than the threshold is allowed (others
    co-sign later with sign_release); CreatedRelease.threshold_met says.
    """
    now = now or datetime.now(UTC)
    if expires <= now:
        raise PayloadFormatError(f"expires {format_timestamp(expires)} is not in the future")
    if not signers:
        raise PayloadFormatError("a release needs at least one signing key")
    release_dir = Path(release_dir)
    envelope_path = release_dir / RELEASE_ENVELOPE_FILE
    if envelope_path.exists():
        raise ReleaseExistsError(
            f"{envelope_path} already exists; a published release is "
            "never rewritten (bump the version)"
        )
    chain = load_root_chain(root_chain)
    newest = chain[-1] if chain else None
    _check_signers(signers, newest)

    image = read_capped(Path(rom), MAX_IMAGE_BYTES, "image")
    manifest_bytes = read_capped(Path(manifest), MAX_MANIFEST_BYTES, "build manifest")
    # Everything that can refuse the release (FMAP, names, versions) runs before any write.
    payload = build_release_payload(
        image=image,
        manifest=manifest_bytes,
        board=board,
        version=version,
        security_version=security_version,
        expires=expires,
    )
    envelope = add_signatures(
        Envelope(RELEASE_PAYLOAD_TYPE, encode_release_payload(payload)), signers
    )
    release_dir.mkdir(parents=True, exist_ok=True)
    _place(image, Path(rom), release_dir / ROM_FILE)
    _place(manifest_bytes, Path(manifest), release_dir / MANIFEST_FILE)
    if chain:
        (release_dir / ROOTS_DIRECTORY).mkdir(exist_ok=True)
        for root in chain:
            write_atomic(
                release_dir / ROOTS_DIRECTORY / root_file_name(root.version), root.envelope_bytes
            )
    try:
        write_new(envelope_path, encode_envelope(envelope))
    except FileExistsError:
        raise ReleaseExistsError(
            f"{envelope_path} appeared while the release was being written; not overwriting it"
        ) from None
    return CreatedRelease(
        release_dir, envelope_path, payload, tuple(s.key_id for s in envelope.signatures), newest
    )


def sign_release(
    release_dir: Path, signers: Sequence[Signer], root_chain: Sequence[Path] = ()
) -> CreatedRelease:
    """Add signatures to an existing release (co-signing); the payload is unchanged."""
    envelope_path = Path(release_dir) / RELEASE_ENVELOPE_FILE
    envelope = read_envelope_file(envelope_path, RELEASE_PAYLOAD_TYPE)
    chain = load_root_chain(root_chain)
    newest = chain[-1] if chain else None
    _check_signers(signers, newest)
    signed = add_signatures(envelope, signers)
    write_atomic(envelope_path, encode_envelope(signed))
    return CreatedRelease(
        Path(release_dir),
        envelope_path,
        decode_release_payload(signed.payload, str(envelope_path)),
        tuple(s.key_id for s in signed.signatures),
        newest,
    )
