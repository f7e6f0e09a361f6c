"""The signed envelope: DSSE v1 (payload, payloadType, signatures).

The payload is carried as base64 of its exact bytes and is never
re-serialised: signers sign, and verifiers check, the DSSE pre-authentication
encoding

    PAE(type, body) = "DSSEv1" SP len(type) SP type SP len(body) SP body

(lengths in ASCII decimal bytes), which binds the payload type, so a root
signature can never pass as a release signature or the other way round.
The envelope file is itself in one canonical spelling (sorted keys, two-space
indent, trailing newline, canonical base64); any other spelling is rejected.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from .encoding import SchemaReader, encode_base64, parse_json, readable_json
from .errors import (
    BadSignatureError,
    EnvelopeFormatError,
    PayloadTypeError,
    SignedByUnknownKeysError,
    ThresholdNotMetError,
)
from .files import read_capped
from .keys import PublicKey, Signer, low_s_signature

RELEASE_PAYLOAD_TYPE = "application/vnd.warmboot.release+json"
ROOT_PAYLOAD_TYPE = "application/vnd.warmboot.root+json"
MAX_ENVELOPE_BYTES = 1024 * 1024
MAX_SIGNATURES = 64
_KEY_ID_RE = re.compile(r"[0-9a-f]{64}")
_ENVELOPE_FIELDS = frozenset({"payload", "payloadType", "signatures"})
_SIGNATURE_FIELDS = frozenset({"keyid", "sig"})


@dataclass(frozen=True)
class Signature:
    key_id: str
    sig: bytes


@dataclass(frozen=True)
class Envelope:
    payload_type: str
    payload: bytes
    signatures: tuple[Signature, ...] = ()


@dataclass(frozen=True)
class Role:
    """Who may sign one kind of metadata: key ids and how many must sign."""

    name: str
    key_ids: tuple[str, ...]
    threshold: int


@dataclass(frozen=True)
class SignatureCheck:
    """The outcome of a successful threshold check."""

    signed_by: tuple[str, ...]  # distinct role keys whose signatures verified
    ignored_key_ids: tuple[str, ...]  # signatures by keys outside the role


def pae(payload_type: str, payload: bytes) -> bytes:
    """DSSE v1 pre-authentication encoding: the exact bytes that are signed."""
    type_bytes = payload_type.encode("utf-8")
    return b"DSSEv1 %d %s %d %s" % (len(type_bytes), type_bytes, len(payload), payload)


def encode_envelope(envelope: Envelope) -> bytes:
    return readable_json(
        {
            "payload": encode_base64(envelope.payload),
            "payloadType": envelope.payload_type,
            "signatures": [
                {"keyid": s.key_id, "sig": encode_base64(s.sig)} for s in envelope.signatures
            ],
        }
    )


def decode_envelope(data: bytes, what: str = "envelope") -> Envelope:
    """Parse an envelope file strictly; anything but the canonical spelling fails."""
    if len(data) > MAX_ENVELOPE_BYTES:
        raise EnvelopeFormatError(f"{what} is larger than {MAX_ENVELOPE_BYTES} bytes")
    read = SchemaReader(EnvelopeFormatError, what)
    document = read.object(
        parse_json(data, what, EnvelopeFormatError), _ENVELOPE_FIELDS, "the envelope"
    )
    entries = read.array(document["signatures"], "signatures")
    if len(entries) > MAX_SIGNATURES:
        raise EnvelopeFormatError(f"{what} has more than {MAX_SIGNATURES} signatures")
    signatures = []
    for index, entry in enumerate(entries):
        where = f"signatures[{index}]"
        entry = read.object(entry, _SIGNATURE_FIELDS, where)
        signatures.append(
            Signature(
                key_id=read.string(
                    entry["keyid"], f"{where}.keyid", _KEY_ID_RE, "64 lowercase hex digits"
                ),
                sig=read.base64(entry["sig"], f"{where}.sig"),
            )
        )
    envelope = Envelope(
        payload_type=read.string(document["payloadType"], "payloadType"),
        payload=read.base64(document["payload"], "payload"),
        signatures=tuple(signatures),
    )
    if encode_envelope(envelope) != data:
        raise EnvelopeFormatError(
            f"{what} is not in canonical form (sorted keys, two-space indent, "
            "trailing newline); it was edited by hand or altered"
        )
    return envelope


def require_payload_type(envelope: Envelope, payload_type: str, what: str) -> Envelope:
    """`envelope`, if it carries `payload_type`; a root is never a release or vice versa."""
    if envelope.payload_type != payload_type:
        raise PayloadTypeError(
            f"{what} has payload type {envelope.payload_type!r}, expected {payload_type!r}"
        )
    return envelope


def read_envelope_file(path: Path, payload_type: str) -> Envelope:
    """Read, decode and type-check the envelope file at `path` (signatures unchecked)."""
    data = read_capped(Path(path), MAX_ENVELOPE_BYTES, "envelope")
    return require_payload_type(decode_envelope(data, str(path)), payload_type, str(path))


def add_signatures(envelope: Envelope, signers: Iterable[Signer]) -> Envelope:
    """The envelope with each signer's signature added (replacing its earlier one)."""
    message = pae(envelope.payload_type, envelope.payload)
    signatures = list(envelope.signatures)
    for signer in signers:
        signatures = [s for s in signatures if s.key_id != signer.key_id]
        # A token may return either ECDSA form; only low S verifies, so store that.
        signatures.append(
            Signature(signer.key_id, low_s_signature(signer.algorithm, signer.sign(message)))
        )
    return Envelope(envelope.payload_type, envelope.payload, tuple(signatures))


def verify_signatures(
    envelope: Envelope,
    payload_type: str,
    keys: Mapping[str, PublicKey],
    role: Role,
    what: str,
    threshold_error: type[ThresholdNotMetError] | None = None,
) -> SignatureCheck:
    """Check that a threshold of distinct keys of `role` signed `envelope`.

    Signatures by keys outside the role are ignored (and reported). A
    signature that names a key of the role but does not verify rejects the
    envelope outright: it can only come from tampering or corruption.
    """
    require_payload_type(envelope, payload_type, what)
    message = pae(envelope.payload_type, envelope.payload)
    signed_by: list[str] = []
    ignored: list[str] = []
    for signature in envelope.signatures:
        if signature.key_id not in role.key_ids:
            if signature.key_id not in ignored:
                ignored.append(signature.key_id)
            continue
        if not keys[signature.key_id].verify(signature.sig, message):
            raise BadSignatureError(
                f"{what}: the signature by {role.name} key {signature.key_id} does not "
                "verify; the envelope was altered or the signature is corrupt"
            )
        if signature.key_id not in signed_by:  # a key counts once however often it signs
            signed_by.append(signature.key_id)
    if len(signed_by) < role.threshold:
        message_text = (
            f"{what} is signed by {len(signed_by)} of the {role.threshold} "
            f"required {role.name} keys"
        )
        if ignored:
            message_text += (
                f"; ignored signatures by keys that are not {role.name} keys: " + ", ".join(ignored)
            )
        error = threshold_error or (SignedByUnknownKeysError if ignored else ThresholdNotMetError)
        raise error(message_text)
    return SignatureCheck(tuple(signed_by), tuple(ignored))
