"""Root metadata: which keys may sign releases, and which may sign the next root.

root.json is an envelope (payload type ROOT_PAYLOAD_TYPE) whose payload is

    {"spec_version": 1, "version": N, "expires": "YYYY-MM-DDTHH:MM:SSZ",
     "keys": {KEYID: {"algorithm": ALG, "public": BASE64_RAW_KEY}, ...},
     "roles": {"root":    {"keyids": [KEYID, ...], "threshold": K},
               "release": {"keyids": [KEYID, ...], "threshold": K}}}

Rotation follows TUF: root N+1 must be signed by a threshold of root N's
root keys and a threshold of its own; a verifier walks 1 -> 2 -> ... -> N from
the root it trusts, and only the newest root's expiry matters.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from .encoding import (
    SchemaReader,
    canonical_json,
    encode_base64,
    format_timestamp,
    parse_canonical_json,
)
from .envelope import (
    MAX_ENVELOPE_BYTES,
    ROOT_PAYLOAD_TYPE,
    Envelope,
    Role,
    SignatureCheck,
    decode_envelope,
    require_payload_type,
    verify_signatures,
)
from .errors import (
    PayloadFormatError,
    RootExpiredError,
    RootRotationError,
    RootVersionError,
    StaleRootError,
)
from .files import read_capped
from .keys import PublicKey

ROOT_SPEC_VERSION = 1
ROOT_ROLE = "root"
RELEASE_ROLE = "release"
MAX_ROOT_CHAIN = 1000  # a verifier never walks further than this
_KEY_ID_RE = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True)
class RootMetadata:
    """The decoded payload of a root envelope."""

    version: int
    expires: datetime
    keys: dict[str, PublicKey]
    root: Role
    release: Role


@dataclass(frozen=True)
class SignedRoot:
    """A root whose envelope verified, with the exact bytes it came from."""

    metadata: RootMetadata
    envelope_bytes: bytes
    payload: bytes

    @property
    def version(self) -> int:
        return self.metadata.version

    @property
    def fingerprint(self) -> str:
        """sha256 of the signed root payload: what to compare out of band."""
        return hashlib.sha256(self.payload).hexdigest()


def _role(name: str, keys: Sequence[PublicKey], threshold: int) -> Role:
    key_ids = sorted({key.key_id for key in keys})
    if len(key_ids) != len(keys):
        raise PayloadFormatError(f"the {name} role lists one key twice")
    if not 1 <= threshold <= len(key_ids):
        raise PayloadFormatError(
            f"the {name} threshold must be between 1 and {len(key_ids)}, not {threshold}"
        )
    return Role(name, tuple(key_ids), threshold)


def build_root(
    *,
    version: int,
    expires: datetime,
    root_keys: Sequence[PublicKey],
    root_threshold: int,
    release_keys: Sequence[PublicKey],
    release_threshold: int,
) -> RootMetadata:
    """A root from its parts, checked the way decode_root checks a file."""
    if version < 1:
        raise PayloadFormatError(f"root version must be at least 1, not {version}")
    keys = {key.key_id: key for key in (*root_keys, *release_keys)}
    metadata = RootMetadata(
        version=version,
        expires=expires,
        keys=keys,
        root=_role(ROOT_ROLE, root_keys, root_threshold),
        release=_role(RELEASE_ROLE, release_keys, release_threshold),
    )
    # Round-trip through the strict decoder so both paths enforce one schema.
    return decode_root(encode_root(metadata))


def encode_root(metadata: RootMetadata) -> bytes:
    """The canonical payload bytes of a root."""
    return canonical_json(
        {
            "spec_version": ROOT_SPEC_VERSION,
            "version": metadata.version,
            "expires": format_timestamp(metadata.expires),
            "keys": {
                key_id: {"algorithm": key.algorithm, "public": encode_base64(key.raw)}
                for key_id, key in metadata.keys.items()
            },
            "roles": {
                role.name: {"keyids": list(role.key_ids), "threshold": role.threshold}
                for role in (metadata.root, metadata.release)
            },
        }
    )


def decode_root(payload: bytes, what: str = "root") -> RootMetadata:
    read = SchemaReader(PayloadFormatError, what)
    document = read.object(
        parse_canonical_json(payload, what, PayloadFormatError),
        {"spec_version", "version", "expires", "keys", "roles"},
        "payload",
    )
    read.integer(document["spec_version"], "spec_version", ROOT_SPEC_VERSION, ROOT_SPEC_VERSION)
    keys: dict[str, PublicKey] = {}
    for key_id, entry in read.mapping(document["keys"], "keys").items():
        where = f"keys[{key_id}]"
        read.string(key_id, "a key id", _KEY_ID_RE, "64 lowercase hex digits")
        entry = read.object(entry, {"algorithm", "public"}, where)
        try:
            key = PublicKey(
                read.string(entry["algorithm"], f"{where}.algorithm"),
                read.base64(entry["public"], f"{where}.public"),
            )
        except ValueError as exc:
            raise read.fail(where, f"is not a usable public key: {exc}") from None
        if key.key_id != key_id:
            raise read.fail(where, f"has key id {key.key_id} (the sha256 of its public key)")
        keys[key_id] = key
    roles_json = read.object(document["roles"], {ROOT_ROLE, RELEASE_ROLE}, "roles")
    roles = {}
    for name, entry in roles_json.items():
        where = f"roles.{name}"
        entry = read.object(entry, {"keyids", "threshold"}, where)
        key_ids = [
            read.string(k, f"{where}.keyids[]", _KEY_ID_RE, "a key id")
            for k in read.array(entry["keyids"], f"{where}.keyids")
        ]
        if key_ids != sorted(set(key_ids)):
            raise read.fail(f"{where}.keyids", "must be sorted and without duplicates")
        for key_id in key_ids:
            if key_id not in keys:
                raise read.fail(f"{where}.keyids", f"names key {key_id}, which keys lacks")
        if not key_ids:
            raise read.fail(f"{where}.keyids", "must not be empty")
        threshold = read.integer(entry["threshold"], f"{where}.threshold", 1, len(key_ids))
        roles[name] = Role(name, tuple(key_ids), threshold)
    unused = sorted(set(keys) - set(roles[ROOT_ROLE].key_ids) - set(roles[RELEASE_ROLE].key_ids))
    if unused:
        raise read.fail("keys", f"lists key(s) no role uses: {', '.join(unused)}")
    return RootMetadata(
        version=read.integer(document["version"], "version", 1),
        expires=read.timestamp(document["expires"], "expires"),
        keys=keys,
        root=roles[ROOT_ROLE],
        release=roles[RELEASE_ROLE],
    )


def unsigned_root_envelope(metadata: RootMetadata) -> Envelope:
    return Envelope(ROOT_PAYLOAD_TYPE, encode_root(metadata))


def _decode_root_envelope(data: bytes, what: str) -> tuple[Envelope, RootMetadata]:
    envelope = require_payload_type(decode_envelope(data, what), ROOT_PAYLOAD_TYPE, what)
    return envelope, decode_root(envelope.payload, what)


def _check_own_root_signatures(
    metadata: RootMetadata, envelope: Envelope, what: str
) -> SignatureCheck:
    return verify_signatures(
        envelope,
        ROOT_PAYLOAD_TYPE,
        metadata.keys,
        metadata.root,
        f"{what} (version {metadata.version})",
    )


def load_trusted_root(data: bytes, what: str = "trusted root") -> SignedRoot:
    """Accept a root obtained out of band, checking it carries its own threshold.

    Its expiry is not checked here: an expired trust anchor can still vouch
    for newer roots; the newest root of a chain must be unexpired.
    """
    envelope, metadata = _decode_root_envelope(data, what)
    _check_own_root_signatures(metadata, envelope, what)
    return SignedRoot(metadata, data, envelope.payload)


def update_root(trusted: SignedRoot, data: bytes, what: str = "new root") -> SignedRoot:
    """Accept root version N+1 after trusted root N (the TUF rotation rule)."""
    envelope, metadata = _decode_root_envelope(data, what)
    # The unverified version is used only to reject, never to trust.
    if metadata.version <= trusted.version:
        raise StaleRootError(
            f"{what} has version {metadata.version}, which is not newer "
            f"than the trusted root version {trusted.version}"
        )
    if metadata.version != trusted.version + 1:
        raise RootVersionError(
            f"{what} has version {metadata.version}; after trusted "
            f"root version {trusted.version} comes {trusted.version + 1}"
        )
    verify_signatures(
        envelope,
        ROOT_PAYLOAD_TYPE,
        trusted.metadata.keys,
        trusted.metadata.root,
        f"{what} (version {trusted.version + 1}), checked against the root keys "
        f"of trusted root version {trusted.version},",
        threshold_error=RootRotationError,
    )
    _check_own_root_signatures(metadata, envelope, what)
    return SignedRoot(metadata, data, envelope.payload)


def root_file_name(version: int) -> str:
    """The file name of root `version` in a roots/ directory: N.root.json."""
    return f"{version}.root.json"


def walk_root_chain(trusted: SignedRoot, fetch: Callable[[int], bytes | None]) -> SignedRoot:
    """Update from `trusted` through every newer root that `fetch(version)` returns.

    `fetch` returns the envelope bytes of a root version, or None when there
    is none; the walk stops at the first version that is missing.
    """
    current = trusted
    for _ in range(MAX_ROOT_CHAIN):
        data = fetch(current.version + 1)
        if data is None:
            return current
        current = update_root(current, data, f"root {root_file_name(current.version + 1)}")
    raise RootVersionError(f"root chain is longer than {MAX_ROOT_CHAIN} versions")


def roots_directory_fetcher(directory: Path) -> Callable[[int], bytes | None]:
    """fetch() for walk_root_chain reading DIRECTORY/N.root.json."""

    def fetch(version: int) -> bytes | None:
        path = Path(directory) / root_file_name(version)
        if not path.exists():
            return None
        return read_capped(path, MAX_ENVELOPE_BYTES, "root")

    return fetch


def check_root_not_stale(root: SignedRoot, minimum_version: int) -> None:
    """The chain must reach the root version this host has already accepted."""
    if root.version < minimum_version:
        raise StaleRootError(
            f"the root chain ends at version {root.version}, but this host has already "
            f"accepted root version {minimum_version}; a newer root is missing"
        )


def root_expiry_error(root: SignedRoot, now: datetime) -> RootExpiredError | None:
    """The error for an expired root, or None while it is valid."""
    if now < root.metadata.expires:
        return None
    return RootExpiredError(
        f"root version {root.version} expired at {format_timestamp(root.metadata.expires)}"
    )


def load_root_file(path: Path) -> SignedRoot:
    """load_trusted_root on a file."""
    return load_trusted_root(read_capped(Path(path), MAX_ENVELOPE_BYTES, "root"), str(path))
