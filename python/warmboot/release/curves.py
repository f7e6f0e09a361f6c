"""Checks on raw public keys and ECDSA signatures that `cryptography` leaves to us.

OpenSSL loads any 32 bytes as an Ed25519 public key, and its verifier
accepts (R = identity, S = 0) for every message under the identity key. A
root that lists such a key lets anyone sign releases, so every Ed25519 key
is decoded here (RFC 8032, section 5.1.3) and refused unless it is the
canonical encoding of a point of the prime-order subgroup: not y >= p, not
x = 0 with the sign bit set, not one of the eight small-order points, and
without a small-order component (which verifiers that multiply by the
cofactor and those that do not would judge differently).

P-256 has cofactor 1, so a point on the curve other than the identity is
always of prime order; the identity has no 65-byte uncompressed form.

The arithmetic runs on public data only, so it need not be constant-time.
"""

from __future__ import annotations

# --- Ed25519 (edwards25519: -x^2 + y^2 = 1 + d x^2 y^2 over GF(p)) -----------

ED25519_P = 2**255 - 19
ED25519_D = -121665 * pow(121666, -1, ED25519_P) % ED25519_P
ED25519_L = 2**252 + 27742317777372353535851937790883648493  # the prime subgroup's order
ED25519_COFACTOR = 8
_SQRT_M1 = pow(2, (ED25519_P - 1) // 4, ED25519_P)

# Extended coordinates (X, Y, Z, T) with x = X/Z, y = Y/Z, x*y = T/Z.
_Point = tuple[int, int, int, int]
_IDENTITY: _Point = (0, 1, 1, 0)


def _add(a: _Point, b: _Point) -> _Point:
    # RFC 8032, 5.1.4; complete for edwards25519, so it also doubles.
    p = ED25519_P
    x1, y1, z1, t1 = a
    x2, y2, z2, t2 = b
    aa = (y1 - x1) * (y2 - x2) % p
    bb = (y1 + x1) * (y2 + x2) % p
    cc = t1 * 2 * ED25519_D * t2 % p
    dd = z1 * 2 * z2 % p
    e, f, g, h = bb - aa, dd - cc, dd + cc, bb + aa
    return (e * f % p, g * h % p, f * g % p, e * h % p)


def _multiply(scalar: int, point: _Point) -> _Point:
    result = _IDENTITY
    while scalar:
        if scalar & 1:
            result = _add(result, point)
        point = _add(point, point)
        scalar >>= 1
    return result


def _is_identity(point: _Point) -> bool:
    x, y, z, _t = point
    return x % ED25519_P == 0 and (y - z) % ED25519_P == 0


def ed25519_public_key_problem(raw: bytes) -> str | None:
    """Why `raw` is not a safe Ed25519 public key, or None if it is one."""
    p = ED25519_P
    if len(raw) != 32:
        return f"an Ed25519 public key is 32 bytes, not {len(raw)}"
    encoded = int.from_bytes(raw, "little")
    y, sign = encoded & (2**255 - 1), encoded >> 255
    if y >= p:
        return "non-canonical Ed25519 encoding (y >= p)"
    # x^2 = (y^2 - 1) / (d y^2 + 1); square root as in RFC 8032, 5.1.3.
    u, v = (y * y - 1) % p, (ED25519_D * y * y + 1) % p
    x = u * pow(v, 3, p) * pow(u * pow(v, 7, p), (p - 5) // 8, p) % p
    if (v * x * x - u) % p != 0:
        x = x * _SQRT_M1 % p
        if (v * x * x - u) % p != 0:
            return "not a point on the Ed25519 curve"
    if x == 0 and sign:
        return "non-canonical Ed25519 encoding (x = 0 with the sign bit set)"
    if x & 1 != sign:
        x = p - x
    point = (x, y, 1, x * y % p)
    if _is_identity(_multiply(ED25519_COFACTOR, point)):
        return "a small-order Ed25519 point: a weak key under which anyone can forge signatures"
    if not _is_identity(_multiply(ED25519_L, point)):
        return "an Ed25519 point with a small-order component (outside the prime-order subgroup)"
    return None


# --- P-256 (secp256r1: y^2 = x^3 - 3x + b over GF(p)) --------------------------

P256_P = 2**256 - 2**224 + 2**192 + 2**96 - 1
P256_B = 0x5AC635D8AA3A93E7B3EBBD55769886BC651D06B0CC53B0F63BCE3C3E27D2604B
P256_N = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551  # group order
P256_HALF_N = P256_N // 2


def p256_public_key_problem(raw: bytes) -> str | None:
    """Why `raw` is not an uncompressed P-256 point on the curve, or None if it is one.

    `cryptography` refuses such points too; checking here as well keeps the
    rule independent of the OpenSSL version underneath.
    """
    if len(raw) != 65 or raw[0] != 4:
        return "a P-256 key must be a 65-byte uncompressed point (04 || X || Y)"
    x, y = int.from_bytes(raw[1:33], "big"), int.from_bytes(raw[33:], "big")
    if x >= P256_P or y >= P256_P:
        return "non-canonical P-256 point (a coordinate >= p)"
    if (y * y - (x * x * x - 3 * x + P256_B)) % P256_P != 0:
        return "not a point on the P-256 curve"
    return None


def p256_signature_problem(r: int, s: int) -> str | None:
    """Why (r, s) is not a strict ECDSA P-256 signature, or None.

    Of the two valid signatures (r, s) and (r, n - s) only the low one (s <= n/2)
    is accepted, as libsecp256k1 and Bitcoin (BIP 146) require: one signature
    per signer and message, whichever verifier reads it.
    """
    if not (1 <= r < P256_N and 1 <= s < P256_N):
        return "r or s is outside 1 .. n-1"
    if s > P256_HALF_N:
        return "high S (s > n/2); only low-S signatures are accepted"
    return None


def p256_low_s(s: int) -> int:
    """The low-S form of an ECDSA P-256 signature's s."""
    return P256_N - s if s > P256_HALF_N else s
