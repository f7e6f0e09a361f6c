"""Hand-built hostile documents for the release tests: what the library's own
constructors refuse to make, spelled out byte by byte."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Sequence

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from warmboot.release import PublicKey
from warmboot.release.encoding import canonical_json

IDENTITY = bytes.fromhex("01" + "00" * 31)  # the Ed25519 neutral element


def root_payload_listing(
    root_keys: Sequence[PublicKey],
    release_public: bytes,
    algorithm: str = "ed25519",
    expires: str = "2099-01-01T00:00:00Z",
) -> bytes:
    """A canonical root payload whose release role is the single raw key `release_public`."""
    release_id = hashlib.sha256(release_public).hexdigest()
    keys = {
        key.key_id: {"algorithm": key.algorithm, "public": base64.b64encode(key.raw).decode()}
        for key in root_keys
    }
    keys[release_id] = {"algorithm": algorithm, "public": base64.b64encode(release_public).decode()}
    return canonical_json(
        {
            "spec_version": 1,
            "version": 1,
            "expires": expires,
            "keys": keys,
            "roles": {
                "root": {
                    "keyids": sorted(key.key_id for key in root_keys),
                    "threshold": len(root_keys),
                },
                "release": {"keyids": [release_id], "threshold": 1},
            },
        }
    )


def ed25519_pem(raw: bytes) -> bytes:
    """A SubjectPublicKeyInfo PEM file holding any 32 bytes (OpenSSL checks nothing)."""
    return ed25519.Ed25519PublicKey.from_public_bytes(raw).public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
