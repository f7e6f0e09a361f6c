"""Signing keys: the Signer interface, file-backed keys, public keys and key ids.

Every signing operation goes through `Signer` (key_id, algorithm,
sign(message)), so a key held in a PKCS#11 token or an HSM can be added as
one more implementation without touching the formats. Private keys live in
PKCS#8 PEM files written 0600; public keys in SubjectPublicKeyInfo PEM files.

A key id is the lowercase hex sha256 of the raw public key: the 32-byte key
for Ed25519, the 65-byte uncompressed SEC1 point (04 || X || Y) for P-256.

A PublicKey cannot hold a weak key (see `curves`), and ECDSA signatures are
made and accepted in low-S form only, so each signer has one signature per
message.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol, runtime_checkable

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)

from .curves import (
    ed25519_public_key_problem,
    p256_low_s,
    p256_public_key_problem,
    p256_signature_problem,
)
from .errors import KeyExistsError, KeyFileError, ReleaseFileError
from .files import read_capped, write_new

ED25519 = "ed25519"
ECDSA_P256 = "ecdsa-p256-sha256"
ALGORITHMS = (ED25519, ECDSA_P256)
_P256_COORDINATE = 32  # bytes in r, s, X and Y
MAX_KEY_FILE = 64 * 1024

PrivateKey = ed25519.Ed25519PrivateKey | ec.EllipticCurvePrivateKey


def key_id_of(raw_public_key: bytes) -> str:
    """The key id: lowercase hex sha256 of the raw public key bytes."""
    return hashlib.sha256(raw_public_key).hexdigest()


@dataclass(frozen=True)
class PublicKey:
    """A verification key as the root lists it: algorithm and raw public bytes."""

    algorithm: str
    raw: bytes

    def __post_init__(self) -> None:
        # Fail on construction, so a root can never list an unusable or weak key.
        problem = (
            ed25519_public_key_problem(self.raw)
            if self.algorithm == ED25519
            else p256_public_key_problem(self.raw)
            if self.algorithm == ECDSA_P256
            else None
        )
        if problem is not None:
            raise ValueError(problem)
        self._crypto_key()

    @property
    def key_id(self) -> str:
        return key_id_of(self.raw)

    def _crypto_key(self) -> ed25519.Ed25519PublicKey | ec.EllipticCurvePublicKey:
        if self.algorithm == ED25519:
            return ed25519.Ed25519PublicKey.from_public_bytes(self.raw)
        if self.algorithm == ECDSA_P256:
            return ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), self.raw)
        raise ValueError(
            f"unsupported algorithm {self.algorithm!r} (supported: {', '.join(ALGORITHMS)})"
        )

    def verify(self, signature: bytes, message: bytes) -> bool:
        """True if `signature` is this key's signature of `message`."""
        key = self._crypto_key()
        try:
            if isinstance(key, ed25519.Ed25519PublicKey):
                key.verify(signature, message)
            else:
                if len(signature) != 2 * _P256_COORDINATE:
                    return False
                r = int.from_bytes(signature[:_P256_COORDINATE], "big")
                s = int.from_bytes(signature[_P256_COORDINATE:], "big")
                if p256_signature_problem(r, s) is not None:  # e.g. high S: malleated
                    return False
                key.verify(encode_dss_signature(r, s), message, ec.ECDSA(hashes.SHA256()))
        except InvalidSignature:
            return False
        return True

    def to_pem(self) -> bytes:
        return self._crypto_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )


def public_key_of(
    key: PrivateKey | ed25519.Ed25519PublicKey | ec.EllipticCurvePublicKey, what: str = "key"
) -> PublicKey:
    """The PublicKey of a `cryptography` key object, public or private (`what` names it)."""
    if isinstance(key, (ed25519.Ed25519PrivateKey, ec.EllipticCurvePrivateKey)):
        key = key.public_key()
    if isinstance(key, ed25519.Ed25519PublicKey):
        algorithm, raw = (
            ED25519,
            key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw),
        )
    elif isinstance(key, ec.EllipticCurvePublicKey) and isinstance(key.curve, ec.SECP256R1):
        algorithm, raw = (
            ECDSA_P256,
            key.public_bytes(
                serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
            ),
        )
    else:
        raise KeyFileError(
            f"{what}: unsupported key type {type(key).__name__} "
            f"(supported: {', '.join(ALGORITHMS)})"
        )
    try:
        return PublicKey(algorithm, raw)
    except ValueError as exc:
        raise KeyFileError(f"{what}: refusing the {algorithm} public key: {exc}") from None


@runtime_checkable
class Signer(Protocol):
    """Anything that can sign for one key: a key file, or later a PKCS#11 token.

    sign() receives the exact bytes to sign (the envelope's PAE) and returns
    the signature in the algorithm's wire form: 64 bytes R || S for Ed25519,
    64 bytes r || s (big-endian, 32 each) for ECDSA P-256 with SHA-256.
    """

    @property
    def key_id(self) -> str: ...

    @property
    def algorithm(self) -> str: ...

    def sign(self, message: bytes) -> bytes: ...


@dataclass(frozen=True)
class FileSigner:
    """A Signer whose private key was read from a PEM file."""

    public_key: PublicKey
    _private: PrivateKey = field(repr=False)

    @property
    def key_id(self) -> str:
        return self.public_key.key_id

    @property
    def algorithm(self) -> str:
        return self.public_key.algorithm

    def sign(self, message: bytes) -> bytes:
        if isinstance(self._private, ed25519.Ed25519PrivateKey):
            return self._private.sign(message)
        der = self._private.sign(message, ec.ECDSA(hashes.SHA256()))
        return ecdsa_wire_signature(*decode_dss_signature(der))


def ecdsa_wire_signature(r: int, s: int) -> bytes:
    """r || s, 32 bytes each, big-endian, with s in low-S form (verifiers refuse high S)."""
    return r.to_bytes(_P256_COORDINATE, "big") + p256_low_s(s).to_bytes(_P256_COORDINATE, "big")


def low_s_signature(algorithm: str, signature: bytes) -> bytes:
    """`signature` with an ECDSA high S replaced by n - s (also valid); others unchanged.

    For Signers such as PKCS#11 tokens, which return either form.
    """
    if algorithm != ECDSA_P256 or len(signature) != 2 * _P256_COORDINATE:
        return signature
    return ecdsa_wire_signature(
        int.from_bytes(signature[:_P256_COORDINATE], "big"),
        int.from_bytes(signature[_P256_COORDINATE:], "big"),
    )


def generate_private_key(algorithm: str = ED25519) -> PrivateKey:
    if algorithm == ED25519:
        return ed25519.Ed25519PrivateKey.generate()
    if algorithm == ECDSA_P256:
        return ec.generate_private_key(ec.SECP256R1())
    raise KeyFileError(f"unsupported algorithm {algorithm!r} (supported: {', '.join(ALGORITHMS)})")


def signer_from_private_key(key: PrivateKey, what: str = "key") -> FileSigner:
    return FileSigner(public_key=public_key_of(key, what), _private=key)


@dataclass(frozen=True)
class KeyPairFiles:
    """Where `write_key_pair` put a new key pair, and its key id."""

    private_path: Path
    public_path: Path
    key_id: str
    algorithm: str


def key_pair_paths(prefix: Path) -> tuple[Path, Path]:
    """PREFIX.key (private) and PREFIX.pub (public)."""
    return Path(f"{prefix}.key"), Path(f"{prefix}.pub")


def write_key_pair(prefix: Path, algorithm: str = ED25519) -> KeyPairFiles:
    """Generate a key pair into PREFIX.key (0600) and PREFIX.pub; never overwrite."""
    private_path, public_path = key_pair_paths(prefix)
    for path in (private_path, public_path):
        if path.exists() or path.is_symlink():
            raise KeyExistsError(f"{path} already exists; refusing to overwrite it")
    key = generate_private_key(algorithm)
    private_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    public = public_key_of(key)
    for path, data, mode in (
        (private_path, private_pem, 0o600),
        (public_path, public.to_pem(), 0o644),
    ):
        try:
            write_new(path, data, mode)
        except FileExistsError:  # created by someone else since the check above
            raise KeyExistsError(f"{path} already exists; refusing to overwrite it") from None
    return KeyPairFiles(private_path, public_path, public.key_id, algorithm)


def _read_pem(path: Path) -> bytes:
    try:
        return read_capped(Path(path), MAX_KEY_FILE, "key file")
    except ReleaseFileError as exc:
        raise KeyFileError(str(exc)) from None


def load_signer(path: Path) -> FileSigner:
    """A Signer for the unencrypted PKCS#8 PEM private key in `path`."""
    data = _read_pem(path)
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        raise KeyFileError(f"{path} is not an unencrypted PEM private key: {exc}") from None
    if not isinstance(key, (ed25519.Ed25519PrivateKey, ec.EllipticCurvePrivateKey)):
        raise KeyFileError(f"{path}: unsupported key type {type(key).__name__}")
    return signer_from_private_key(key, str(path))


def load_public_key(path: Path) -> PublicKey:
    """The public key in `path`: a PEM public key, or the public half of a private key."""
    data = _read_pem(path)
    if b"PRIVATE KEY" in data:
        return load_signer(path).public_key
    try:
        key = serialization.load_pem_public_key(data)
    except (ValueError, UnsupportedAlgorithm) as exc:
        raise KeyFileError(f"{path} is not a PEM public key: {exc}") from None
    return public_key_of(key, str(path))  # type: ignore[arg-type]  # it refuses other types
