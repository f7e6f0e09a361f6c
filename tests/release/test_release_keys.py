"""Key files, key ids, the Signer interface and the envelope's signing bytes."""

from __future__ import annotations

import hashlib
import os
import stat
from dataclasses import dataclass

import pytest

from warmboot.release import (
    ECDSA_P256,
    ED25519,
    Envelope,
    Signer,
    add_signatures,
    decode_envelope,
    encode_envelope,
    errors,
    load_public_key,
    load_signer,
    pae,
    write_key_pair,
)
from warmboot.release.curves import P256_N
from warmboot.release.keys import PublicKey


@pytest.mark.parametrize("algorithm", [ED25519, ECDSA_P256])
def test_generated_private_key_is_mode_0600_and_loads_as_a_signer(tmp_path, algorithm):
    old_umask = os.umask(0)  # even a permissive umask must not widen the private key
    try:
        pair = write_key_pair(tmp_path / "release1", algorithm)
    finally:
        os.umask(old_umask)
    assert stat.S_IMODE(pair.private_path.stat().st_mode) == 0o600
    assert stat.S_IMODE(pair.public_path.stat().st_mode) == 0o644
    signer = load_signer(pair.private_path)
    assert isinstance(signer, Signer)
    assert (signer.key_id, signer.algorithm) == (pair.key_id, algorithm)
    assert load_public_key(pair.public_path) == signer.public_key
    assert signer.public_key.verify(signer.sign(b"message"), b"message")
    assert not signer.public_key.verify(signer.sign(b"message"), b"messagE")


def test_key_generation_refuses_to_overwrite_either_file(tmp_path):
    pair = write_key_pair(tmp_path / "k")
    before = pair.private_path.read_bytes()
    pair.public_path.unlink()
    with pytest.raises(errors.KeyExistsError, match=r"k.key already exists"):
        write_key_pair(tmp_path / "k")
    assert pair.private_path.read_bytes() == before
    assert not pair.public_path.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["k.key"]  # no temp files left


def test_key_id_is_sha256_of_the_raw_public_key(keys):
    ed = keys["rel1"].public_key
    assert len(ed.raw) == 32 and ed.key_id == hashlib.sha256(ed.raw).hexdigest()
    p256 = keys["ecdsa1"].public_key
    assert len(p256.raw) == 65 and p256.raw[0] == 4
    assert p256.key_id == hashlib.sha256(p256.raw).hexdigest()


def test_ecdsa_signature_is_64_bytes_r_s(keys):
    assert len(keys["ecdsa1"].sign(b"x")) == 64


def test_unusable_public_key_is_refused():
    with pytest.raises(ValueError, match="65-byte uncompressed point"):
        PublicKey(ECDSA_P256, b"\x02" + b"\x01" * 32)


def test_non_key_file_is_rejected(tmp_path):
    path = tmp_path / "notakey.pem"
    path.write_text("hello")
    with pytest.raises(errors.KeyFileError, match="not a PEM public key"):
        load_public_key(path)


def test_pae_matches_the_dsse_v1_specification():
    # The example from the DSSE protocol document.
    assert pae("http://example.com/HelloWorld", b"hello world") == (
        b"DSSEv1 29 http://example.com/HelloWorld 11 hello world"
    )


def test_envelope_round_trips_and_resigning_replaces_a_keys_signature(keys):
    envelope = add_signatures(Envelope("t", b"payload"), [keys["rel1"], keys["rel2"]])
    envelope = add_signatures(envelope, [keys["rel1"]])
    assert [s.key_id for s in envelope.signatures] == [keys["rel2"].key_id, keys["rel1"].key_id]
    assert decode_envelope(encode_envelope(envelope)) == envelope


@pytest.mark.parametrize(
    "document, problem",
    [
        (b'{"payload": "", "payloadType": "t", "signatures": [], "x": 1}', "unknown field"),
        (b'{"payload": "", "payload": "", "payloadType": "t", "signatures": []}', "duplicate key"),
        (b'{"payload": "YQ=", "payloadType": "t", "signatures": []}', "not valid base64"),
        (b'{"payload": "YR==", "payloadType": "t", "signatures": []}', "not canonical base64"),
        (
            b'{"payload": "", "payloadType": "t", "signatures": [{"keyid": "AB", "sig": ""}]}',
            "64 lowercase hex",
        ),
        (b"[" * 100000, "not valid JSON"),
    ],
)
def test_malformed_envelopes_are_rejected(document, problem):
    with pytest.raises(errors.EnvelopeFormatError, match=problem):
        decode_envelope(document)


# --- ECDSA low-S (issue 16) -------------------------------------------------------


def split_rs(signature: bytes) -> tuple[int, int]:
    return int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")


def join_rs(r: int, s: int) -> bytes:
    return r.to_bytes(32, "big") + s.to_bytes(32, "big")


def high_s(signature: bytes) -> bytes:
    """The other valid ECDSA signature of the same message, (r, n - s), made high-S."""
    r, s = split_rs(signature)
    return join_rs(r, max(s, P256_N - s))


def test_ecdsa_signatures_are_made_low_s(keys):
    # A signer that left s as OpenSSL picks it would give a high S about half the time.
    for index in range(64):
        assert split_rs(keys["ecdsa1"].sign(b"message %d" % index))[1] <= P256_N // 2


def test_high_s_ecdsa_signature_is_refused(keys):
    key = keys["ecdsa1"]
    signature = key.sign(b"message")
    malleated = high_s(signature)
    assert malleated != signature
    assert key.public_key.verify(signature, b"message")
    assert not key.public_key.verify(malleated, b"message")


@pytest.mark.parametrize("r, s", [(0, 1), (1, 0), (P256_N, 1), (1, P256_N)])
def test_ecdsa_signature_with_r_or_s_out_of_range_is_refused(keys, r, s):
    assert not keys["ecdsa1"].public_key.verify(join_rs(r, s), b"message")


@dataclass(frozen=True)
class HighSSigner:
    """A Signer (say, a PKCS#11 token) that hands back the high-S form."""

    inner: Signer

    @property
    def key_id(self) -> str:
        return self.inner.key_id

    @property
    def algorithm(self) -> str:
        return self.inner.algorithm

    def sign(self, message: bytes) -> bytes:
        return high_s(self.inner.sign(message))


def test_high_s_signature_from_any_signer_is_stored_low_s(keys):
    envelope = add_signatures(Envelope("t", b"payload"), [HighSSigner(keys["ecdsa1"])])
    signature = envelope.signatures[0].sig
    assert split_rs(signature)[1] <= P256_N // 2
    assert keys["ecdsa1"].public_key.verify(signature, pae("t", b"payload"))
