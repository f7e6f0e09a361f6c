"""Weak public keys: small-order and non-canonical Ed25519 points, bad P-256 points.

Under the Ed25519 identity key, (R = identity, S = 0) verifies for every
message (OpenSSL accepts it), so a root that lists such a key lets anyone
sign. Every way a key enters (a key file, a root being created, a root being
verified) must refuse it.
"""

from __future__ import annotations

import base64
import hashlib
import json

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from hostile import IDENTITY, ed25519_pem, root_payload_listing
from warmboot.release import ECDSA_P256, ED25519, errors, load_public_key
from warmboot.release.curves import ED25519_P, P256_P
from warmboot.release.keys import PublicKey
from warmboot.release.root import decode_root

# The eight points of order 1, 2, 4 and 8, canonically encoded (the list in
# libsodium's ge25519_has_small_order and "Taming the many EdDSAs", 2020).
SMALL_ORDER = [
    IDENTITY.hex(),  # order 1
    "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",  # order 2
    "0000000000000000000000000000000000000000000000000000000000000000",  # order 4
    "0000000000000000000000000000000000000000000000000000000000000080",  # order 4
    "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a",  # order 8
    "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa",  # order 8
    "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05",  # order 8
    "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc85",  # order 8
]
# Non-canonical spellings of small-order points: x = 0 with the sign bit set
# (identity, order 2), and y = p, p + 1 (which are 0 and 1 again) with either sign.
NON_CANONICAL_SMALL_ORDER = [
    "0100000000000000000000000000000000000000000000000000000000000080",
    "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
    "edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
    "edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
    "eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
    "eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
]
# RFC 8032's first test key plus the order-8 point c717...037a: it verifies
# its owner's signatures, but cofactored and cofactorless verifiers can
# disagree on others, so a key must lie in the prime-order subgroup.
MIXED_ORDER = "9158312a9a8d6e3b34c891d6d61444f8b8211c5117ebad15bdb0bd68b07e0245"
RFC8032_KEY = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"


@pytest.mark.parametrize("encoding", SMALL_ORDER)
def test_small_order_ed25519_keys_are_refused(encoding):
    with pytest.raises(ValueError, match="small-order Ed25519 point"):
        PublicKey(ED25519, bytes.fromhex(encoding))


@pytest.mark.parametrize("encoding", NON_CANONICAL_SMALL_ORDER)
def test_non_canonical_encodings_of_small_order_points_are_refused(encoding):
    with pytest.raises(ValueError, match="non-canonical Ed25519 encoding"):
        PublicKey(ED25519, bytes.fromhex(encoding))


@pytest.mark.parametrize("y", range(ED25519_P, 2**255))
@pytest.mark.parametrize("sign", [0, 1])
def test_every_ed25519_encoding_with_y_at_least_p_is_refused(y, sign):
    raw = (y | sign << 255).to_bytes(32, "little")
    with pytest.raises(ValueError, match=r"non-canonical Ed25519 encoding \(y >= p\)"):
        PublicKey(ED25519, raw)


def test_ed25519_key_with_a_small_order_component_is_refused():
    assert PublicKey(ED25519, bytes.fromhex(RFC8032_KEY))  # the key itself is fine
    with pytest.raises(ValueError, match="small-order component"):
        PublicKey(ED25519, bytes.fromhex(MIXED_ORDER))


def test_ed25519_bytes_that_are_no_point_are_refused():
    with pytest.raises(ValueError, match="not a point on the Ed25519 curve"):
        PublicKey(ED25519, (2).to_bytes(32, "little"))  # y = 2 has no x


@pytest.mark.parametrize(
    "encoding", [IDENTITY.hex(), SMALL_ORDER[4], MIXED_ORDER, NON_CANONICAL_SMALL_ORDER[2]]
)
def test_weak_ed25519_public_key_file_is_refused(tmp_path, encoding):
    path = tmp_path / "weak.pub"
    path.write_bytes(ed25519_pem(bytes.fromhex(encoding)))
    with pytest.raises(errors.KeyFileError, match=r"weak.pub"):
        load_public_key(path)


def forged_identity_signature() -> bytes:
    """R = the identity point, S = 0: valid for any message under the identity key."""
    return IDENTITY + bytes(32)


def test_identity_signature_verifies_for_any_message_under_the_identity_key_in_openssl():
    # Why the key must be refused up front: the library below would accept the forgery.
    ed25519.Ed25519PublicKey.from_public_bytes(IDENTITY).verify(
        forged_identity_signature(), b"any payload an attacker likes"
    )


def root_payload(lab, release_public: bytes, algorithm: str = ED25519) -> bytes:
    return root_payload_listing(
        [lab.keys[k].public_key for k in ("root1", "root2")], release_public, algorithm
    )


def test_root_listing_a_weak_key_is_refused_and_its_forged_release_never_verifies(lab):
    # A root (signed by its genuine root keys) that lists the identity as release key,
    # and a release "signed" with (R = identity, S = 0) over a payload nobody signed.
    root = lab.signed_root(root_payload(lab, IDENTITY))
    release_dir = lab.release()
    document = json.loads((release_dir / "release.json").read_text())
    document["signatures"] = [
        {
            "keyid": hashlib.sha256(IDENTITY).hexdigest(),
            "sig": base64.b64encode(forged_identity_signature()).decode(),
        }
    ]
    (release_dir / "release.json").write_text(json.dumps(document, sort_keys=True, indent=2) + "\n")
    with pytest.raises(errors.PayloadFormatError, match="small-order Ed25519 point"):
        lab.verify(release_dir, root)


@pytest.mark.parametrize("encoding", SMALL_ORDER + NON_CANONICAL_SMALL_ORDER + [MIXED_ORDER])
def test_root_payload_listing_any_weak_ed25519_key_is_refused(lab, encoding):
    with pytest.raises(errors.PayloadFormatError, match="is not a usable public key"):
        decode_root(root_payload(lab, bytes.fromhex(encoding)))


# --- P-256 -----------------------------------------------------------------------


def p256_point(keys) -> tuple[int, int]:
    raw = keys["ecdsa1"].public_key.raw
    return int.from_bytes(raw[1:33], "big"), int.from_bytes(raw[33:], "big")


def uncompressed(x: int, y: int) -> bytes:
    return b"\x04" + x.to_bytes(32, "big") + y.to_bytes(32, "big")


def bad_p256_points(keys) -> dict[str, bytes]:
    x, y = p256_point(keys)
    return {
        "off the curve": uncompressed(x, (y + 1) % P256_P),
        "(0, 0), not on the curve": uncompressed(0, 0),
        "x >= p": uncompressed(x + P256_P, y) if x + P256_P < 2**256 else uncompressed(P256_P, y),
        "y >= p": uncompressed(x, P256_P),
        "identity (SEC1 00)": b"\x00",
        "compressed": bytes([2 + (y & 1)]) + x.to_bytes(32, "big"),
    }


@pytest.mark.parametrize(
    "case",
    [
        "off the curve",
        "(0, 0), not on the curve",
        "x >= p",
        "y >= p",
        "identity (SEC1 00)",
        "compressed",
    ],
)
def test_p256_points_off_the_curve_or_at_infinity_are_refused(keys, case):
    raw = bad_p256_points(keys)[case]
    with pytest.raises(ValueError, match="P-256"):
        PublicKey(ECDSA_P256, raw)
    if case != "compressed":  # a valid point: only our 65-byte rule refuses it
        # cryptography's own loader refuses these as well, whatever our checks do.
        with pytest.raises(ValueError):
            ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), raw)


@pytest.mark.parametrize("case", ["off the curve", "(0, 0), not on the curve"])
def test_p256_key_file_with_a_point_off_the_curve_is_refused(tmp_path, keys, case):
    genuine = keys["ecdsa1"].public_key
    der = genuine.to_pem()
    der = serialization.load_pem_public_key(der).public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    assert der.endswith(genuine.raw)
    bad = der[:-65] + bad_p256_points(keys)[case]
    path = tmp_path / "bad.pub"
    path.write_bytes(
        b"-----BEGIN PUBLIC KEY-----\n" + base64.encodebytes(bad) + b"-----END PUBLIC KEY-----\n"
    )
    with pytest.raises(errors.KeyFileError, match=r"bad.pub"):
        load_public_key(path)


def test_root_payload_listing_a_p256_point_off_the_curve_is_refused(lab, keys):
    raw = bad_p256_points(keys)["off the curve"]
    with pytest.raises(errors.PayloadFormatError, match="not a point on the P-256 curve"):
        decode_root(root_payload(lab, raw, ECDSA_P256))
