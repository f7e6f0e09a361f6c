"""Verify a release directory before flashing it.

The order is fixed so that nothing from the release is trusted, or even read
in bulk, before the signatures say it may be: root chain -> envelope
signatures -> board -> expiry -> rollback -> image (read only up to the signed
length) -> FMAP and regions -> manifest.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from .encoding import format_timestamp
from .envelope import (
    MAX_ENVELOPE_BYTES,
    RELEASE_PAYLOAD_TYPE,
    SignatureCheck,
    decode_envelope,
    verify_signatures,
)
from .errors import (
    ExpiredError,
    FmapMismatchError,
    ImageHashMismatchError,
    ImageLengthMismatchError,
    ManifestMismatchError,
    PayloadFormatError,
    RegionHashMismatchError,
    ReleaseError,
    ReleaseExpiredError,
    WrongBoardError,
)
from .files import exclusive_lock, read_at_most, read_capped
from .fmap import parse_fmap
from .layout import (
    MANIFEST_FILE,
    MAX_IMAGE_BYTES,
    MAX_MANIFEST_BYTES,
    RELEASE_ENVELOPE_FILE,
    ROM_FILE,
    ROOTS_DIRECTORY,
)
from .payload import ReleasePayload, decode_release_payload, digest_image
from .root import (
    SignedRoot,
    check_root_not_stale,
    load_root_file,
    root_expiry_error,
    roots_directory_fetcher,
    walk_root_chain,
)
from .state import RollbackState, advance_state, check_rollback, load_state, save_state

log = logging.getLogger("warmboot.release")


@dataclass(frozen=True)
class OpenedRelease:
    """A release envelope whose signatures met the threshold of a root."""

    payload: ReleasePayload
    payload_bytes: bytes
    signatures: SignatureCheck


@dataclass(frozen=True)
class VerifiedRelease:
    """Everything verify_release established. Flash `image`, not the file.

    `image` holds the exact bytes that were hashed, so the file on disk
    cannot be swapped between verification and flashing.
    """

    release_dir: Path
    payload: ReleasePayload
    payload_sha256: str
    root_version: int
    root_fingerprint: str
    signed_by: tuple[str, ...]
    ignored_key_ids: tuple[str, ...]
    warnings: tuple[str, ...]
    state_committed: bool
    image: bytes = field(repr=False)


def open_release_envelope(
    data: bytes, root: SignedRoot, what: str = RELEASE_ENVELOPE_FILE
) -> OpenedRelease:
    """Check a release envelope's signatures against `root`, then parse its payload."""
    envelope = decode_envelope(data, what)
    check = verify_signatures(
        envelope, RELEASE_PAYLOAD_TYPE, root.metadata.keys, root.metadata.release, what
    )
    payload = decode_release_payload(envelope.payload, f"{what} payload")
    if payload.board.flash_size != payload.image.length:
        raise PayloadFormatError(f"{what} payload: board.flash_size differs from image.length")
    if payload.image.length > MAX_IMAGE_BYTES or payload.manifest.length > MAX_MANIFEST_BYTES:
        raise PayloadFormatError(
            f"{what} payload: the image or manifest is larger than this verifier accepts"
        )
    return OpenedRelease(payload, envelope.payload, check)


def check_board(payload: ReleasePayload, board: str, flash_size: int | None = None) -> None:
    if payload.board.name != board:
        raise WrongBoardError(
            f"release {payload.version} is for board {payload.board.name!r}, not {board!r}"
        )
    if flash_size is not None and payload.board.flash_size != flash_size:
        raise WrongBoardError(
            f"release {payload.version} is for a {payload.board.flash_size}-"
            f"byte flash, not {flash_size} bytes"
        )


def release_expiry_error(payload: ReleasePayload, now: datetime) -> ReleaseExpiredError | None:
    if now < payload.expires:
        return None
    return ReleaseExpiredError(
        f"release {payload.version} for {payload.board.name} expired at "
        f"{format_timestamp(payload.expires)} (now "
        f"{format_timestamp(now)})"
    )


def check_image(payload: ReleasePayload, image: bytes) -> None:
    """The image must be exactly the signed one: length, digests, FMAP, regions."""
    signed = payload.image
    if len(image) != signed.length:
        relation = "longer" if len(image) > signed.length else f"{len(image)} bytes, shorter"
        raise ImageLengthMismatchError(
            f"{ROM_FILE} is {relation} than the signed length of {signed.length} bytes"
        )
    if hashlib.sha256(image).hexdigest() != signed.sha256:
        raise ImageHashMismatchError(
            f"{ROM_FILE} does not match the signed sha256 "
            f"{signed.sha256}; the image was altered or replaced"
        )
    if hashlib.sha512(image).hexdigest() != signed.sha512:
        raise ImageHashMismatchError(f"{ROM_FILE} does not match the signed sha512")
    fmap = parse_fmap(image, ROM_FILE)
    if fmap != payload.board.fmap:
        raise FmapMismatchError(f"the FMAP in {ROM_FILE} differs from the signed board layout")
    actual = digest_image(image, fmap).region_sha256
    for name, digest in signed.region_sha256.items():
        if actual[name] != digest:
            raise RegionHashMismatchError(
                f"FMAP region {name} of {ROM_FILE} does not match its signed sha256 {digest}"
            )


def check_manifest(payload: ReleasePayload, manifest: bytes) -> None:
    signed = payload.manifest
    if len(manifest) != signed.length or hashlib.sha256(manifest).hexdigest() != signed.sha256:
        raise ManifestMismatchError(
            f"{MANIFEST_FILE} does not match the signed length and "
            "sha256; it belongs to another build or was altered"
        )


def _allow_expiry(error: ExpiredError | None, allow_expired: bool, warnings: list[str]) -> None:
    if error is None:
        return
    if not allow_expired:
        raise error
    warning = f"{error}; accepted because the expiry check was explicitly overridden"
    log.warning(warning)
    warnings.append(warning)


def _resolve_root(trusted_root: SignedRoot | Path | str, release_dir: Path) -> SignedRoot:
    trusted = (
        trusted_root if isinstance(trusted_root, SignedRoot) else load_root_file(Path(trusted_root))
    )
    return walk_root_chain(trusted, roots_directory_fetcher(release_dir / ROOTS_DIRECTORY))


def check_release_before_image(
    read_envelope: Callable[[], bytes],
    root: SignedRoot,
    *,
    board: str,
    flash_size: int | None,
    state: RollbackState,
    now: datetime,
    allow_expired: bool,
    allow_version_downgrade: bool,
) -> tuple[OpenedRelease, tuple[str, ...]]:
    """verify_release's checks before the image, in its order, on a resolved root.

    The one definition of that order; a lab host runs it on a downloaded
    envelope so that it never fetches the image of a release it would refuse.
    Returns the opened release and the override warnings.
    """
    warnings: list[str] = []
    check_root_not_stale(root, state.root_version)
    _allow_expiry(root_expiry_error(root, now), allow_expired, warnings)
    opened = open_release_envelope(read_envelope(), root)
    check_board(opened.payload, board, flash_size)
    _allow_expiry(release_expiry_error(opened.payload, now), allow_expired, warnings)
    warnings += check_rollback(state, opened.payload, allow_version_downgrade)
    return opened, tuple(warnings)


def _verify_with_state(
    release_dir: Path,
    trusted_root: SignedRoot | Path | str,
    *,
    board: str,
    flash_size: int | None,
    state: RollbackState,
    now: datetime,
    allow_expired: bool,
    allow_version_downgrade: bool,
) -> VerifiedRelease:
    root = _resolve_root(trusted_root, release_dir)
    opened, checked = check_release_before_image(
        lambda: read_capped(
            release_dir / RELEASE_ENVELOPE_FILE, MAX_ENVELOPE_BYTES, "release envelope"
        ),
        root,
        board=board,
        flash_size=flash_size,
        state=state,
        now=now,
        allow_expired=allow_expired,
        allow_version_downgrade=allow_version_downgrade,
    )
    warnings = list(checked)
    payload = opened.payload

    # Read no more than the signed length (+1 to notice a longer file).
    image = read_at_most(release_dir / ROM_FILE, payload.image.length, "image")
    check_image(payload, image)
    check_manifest(
        payload,
        read_at_most(release_dir / MANIFEST_FILE, payload.manifest.length, "build manifest"),
    )
    return VerifiedRelease(
        release_dir=release_dir,
        payload=payload,
        payload_sha256=hashlib.sha256(opened.payload_bytes).hexdigest(),
        root_version=root.version,
        root_fingerprint=root.fingerprint,
        signed_by=opened.signatures.signed_by,
        ignored_key_ids=opened.signatures.ignored_key_ids,
        warnings=tuple(warnings),
        state_committed=False,
        image=image,
    )


def verify_release(
    release_dir: Path | str,
    trusted_root: SignedRoot | Path | str,
    *,
    board: str,
    state_file: Path | str | None = None,
    commit_state: bool = False,
    now: datetime | None = None,
    allow_expired: bool = False,
    allow_version_downgrade: bool = False,
    flash_size: int | None = None,
) -> VerifiedRelease:
    """Verify dist/<board>/<version>/ against a trusted root; raise on any failure.

    trusted_root is the root this host trusts (a file, or a SignedRoot);
    newer roots are taken from the release's roots/ directory. state_file
    holds what this host accepted before (missing = nothing yet); with
    commit_state the state advances, atomically and under a lock, only after
    every check passed. allow_expired and allow_version_downgrade are
    explicit overrides and are logged (warning, logger "warmboot.release").
    """
    release_dir = Path(release_dir)
    now = now or datetime.now(UTC)
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    if commit_state and state_file is None:
        raise ReleaseError("committing the rollback state needs a state file")
    options: dict[str, Any] = dict(
        board=board,
        flash_size=flash_size,
        now=now,
        allow_expired=allow_expired,
        allow_version_downgrade=allow_version_downgrade,
    )
    if state_file is None:
        return _verify_with_state(release_dir, trusted_root, state=RollbackState(), **options)
    state_path = Path(state_file)
    if not commit_state:
        return _verify_with_state(
            release_dir, trusted_root, state=load_state(state_path), **options
        )
    with exclusive_lock(state_path):
        state = load_state(state_path)
        result = _verify_with_state(release_dir, trusted_root, state=state, **options)
        save_state(state_path, advance_state(state, result.payload, result.root_version))
    log.info(
        "accepted %s %s (security_version %d) into %s",
        result.payload.board.name,
        result.payload.version,
        result.payload.security_version,
        state_path,
    )
    return dataclasses.replace(result, state_committed=True)
