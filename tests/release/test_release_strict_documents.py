"""Signed and trusted documents are read one way only.

Every integer field of the release payload, the root payload and the rollback
state file goes through one strict reader (JSON true is not 1, 1.0 is not 1,
ranges are checked); a signed payload must be byte for byte the canonical
encoding of what it parses to, so a second verifier cannot read it otherwise.
"""

from __future__ import annotations

import json

import pytest

from warmboot.release import decode_envelope, errors
from warmboot.release.encoding import canonical_json, readable_json
from warmboot.release.payload import decode_release_payload
from warmboot.release.root import decode_root
from warmboot.release.state import decode_state, load_state

# Every integer field, as a path into the document.
RELEASE_INTEGERS = [
    ("spec_version",),
    ("security_version",),
    ("board", "flash_size"),
    ("board", "fmap", "offset"),
    ("board", "fmap", "base"),
    ("board", "fmap", "size"),
    ("board", "fmap", "ver_major"),
    ("board", "fmap", "ver_minor"),
    ("board", "fmap", "areas", 0, "offset"),
    ("board", "fmap", "areas", 0, "size"),
    ("board", "fmap", "areas", 0, "flags"),
    ("image", "length"),
    ("manifest", "length"),
]
ROOT_INTEGERS = [
    ("spec_version",),
    ("version",),
    ("roles", "root", "threshold"),
    ("roles", "release", "threshold"),
]
STATE_INTEGERS = [
    ("format_version",),
    ("root_version",),
    ("boards", "qemu-q35", "security_version"),
]
NOT_INTEGERS = [True, False, 1.0, "1", None, [1], {"1": 1}]


def replaced(document, path, value):
    """A deep copy of `document` with the field at `path` set to `value`."""
    copy = json.loads(json.dumps(document))
    parent = copy
    for step in path[:-1]:
        parent = parent[step]
    parent[path[-1]] = value
    return copy


def refusal(path, value) -> str:
    """What the error says: floats never get past the JSON parser; the rest name the field."""
    return (
        "non-integer number 1.0 is not allowed"
        if isinstance(value, float)
        else (f"{path[-1]} must be")
    )


def where(path) -> str:
    return ".".join(str(step) for step in path if not isinstance(step, int))


def encode_any(document) -> bytes:
    """Canonical JSON that lets floats through, as a hostile signer would write them."""
    return json.dumps(document, sort_keys=True, separators=(",", ":")).encode()


@pytest.fixture
def release_document(lab):
    return json.loads(lab.payload(lab.release()))


@pytest.fixture
def root_document(lab):
    return json.loads(decode_envelope(lab.root_bytes()).payload)


@pytest.fixture
def state_document(lab):
    state = lab.tmp_path / "state.json"
    lab.verify(lab.release(), state_file=state, commit_state=True)
    return json.loads(state.read_text())


# --- one strict integer reader -------------------------------------------------------


@pytest.mark.parametrize("path", RELEASE_INTEGERS, ids=where)
@pytest.mark.parametrize("value", NOT_INTEGERS, ids=repr)
def test_release_payload_integer_fields_refuse_non_integers(release_document, path, value):
    with pytest.raises(errors.PayloadFormatError, match=refusal(path, value)):
        decode_release_payload(encode_any(replaced(release_document, path, value)))


@pytest.mark.parametrize("path", ROOT_INTEGERS, ids=where)
@pytest.mark.parametrize("value", NOT_INTEGERS, ids=repr)
def test_root_payload_integer_fields_refuse_non_integers(root_document, path, value):
    with pytest.raises(errors.PayloadFormatError, match=refusal(path, value)):
        decode_root(encode_any(replaced(root_document, path, value)))


@pytest.mark.parametrize("path", STATE_INTEGERS, ids=where)
@pytest.mark.parametrize("value", NOT_INTEGERS, ids=repr)
def test_state_file_integer_fields_refuse_non_integers(state_document, path, value):
    with pytest.raises(errors.StateFileError, match=refusal(path, value)):
        decode_state(encode_any(replaced(state_document, path, value)))


@pytest.mark.parametrize(
    "path, value",
    [
        (("spec_version",), 2),
        (("spec_version",), 0),
        (("security_version",), -1),
        (("security_version",), 2**32),
        (("image", "length"), 2**64),
        (("board", "fmap", "areas", 0, "flags"), 2**16),
        (("board", "fmap", "ver_major"), 256),
    ],
    ids=str,
)
def test_release_payload_integers_out_of_range_are_refused(release_document, path, value):
    with pytest.raises(errors.PayloadFormatError, match=f"{path[-1]} must be"):
        decode_release_payload(canonical_json(replaced(release_document, path, value)))


@pytest.mark.parametrize(
    "path, value",
    [
        (("spec_version",), 2),
        (("version",), 0),
        (("version",), 2**64),
        (("roles", "root", "threshold"), 0),
        (("roles", "root", "threshold"), 3),
    ],
    ids=str,
)
def test_root_payload_integers_out_of_range_are_refused(root_document, path, value):
    with pytest.raises(errors.PayloadFormatError, match=f"{path[-1]} must be"):
        decode_root(canonical_json(replaced(root_document, path, value)))


@pytest.mark.parametrize(
    "path, value",
    [
        (("format_version",), 2),
        (("root_version",), -1),
        (("root_version",), 2**64),
        (("boards", "qemu-q35", "security_version"), 2**32),
    ],
    ids=str,
)
def test_state_file_integers_out_of_range_are_refused(state_document, path, value):
    with pytest.raises(errors.StateFileError, match=f"{path[-1]} must be"):
        decode_state(readable_json(replaced(state_document, path, value)))


def test_release_with_spec_version_true_is_refused_although_validly_signed(lab):
    release_dir = lab.release()
    document = json.loads(lab.payload(release_dir))
    lab.resign_release(release_dir, canonical_json({**document, "spec_version": True}))
    with pytest.raises(errors.PayloadFormatError, match="spec_version must be"):
        lab.verify(release_dir)


def test_root_with_spec_version_true_is_refused_although_validly_signed(lab, root_document):
    root = lab.signed_root(canonical_json({**root_document, "spec_version": True}))
    with pytest.raises(errors.PayloadFormatError, match="spec_version must be"):
        lab.verify(lab.release(), root)


def test_state_file_with_format_version_true_is_refused(lab, state_document):
    state = lab.tmp_path / "state.json"
    state.write_bytes(readable_json({**state_document, "format_version": True}))
    with pytest.raises(errors.StateFileError, match="format_version must be"):
        load_state(state)
    with pytest.raises(errors.StateFileError, match="format_version must be"):
        lab.verify(lab.release("1.0.1"), state_file=state, commit_state=True)


def test_create_release_refuses_a_boolean_security_version(lab):
    with pytest.raises(errors.PayloadFormatError, match="security_version must be"):
        lab.release(security_version=True)
    assert not (lab.tmp_path / "dist" / lab.board / "1.0.0" / "release.json").exists()


# --- canonical payloads ----------------------------------------------------------------


def non_canonical_spellings(payload: bytes) -> dict[str, bytes]:
    """Other byte strings that json.loads reads as the same document as `payload`."""
    document = json.loads(payload)
    return {
        "space before": b" " + payload,
        "newline after": payload + b"\n",
        "escaped hyphen in the board name": payload.replace(b'"qemu-q35"', b'"qemu\\u002dq35"'),
        "escaped letter in a key": payload[:2] + b"\\u%04x" % payload[2] + payload[3:],
        "upper-case escape": payload.replace(b'"qemu-q35"', b'"qemu\\u002Dq35"'),
        "keys unsorted": json.dumps(
            dict(reversed(list(document.items()))), separators=(",", ":")
        ).encode(),
        "spaces after separators": json.dumps(document, sort_keys=True).encode(),
        "minus zero": payload.replace(b'"flags":0', b'"flags":-0', 1),
    }


SPELLINGS = [
    "space before",
    "newline after",
    "escaped hyphen in the board name",
    "escaped letter in a key",
    "upper-case escape",
    "keys unsorted",
    "spaces after separators",
    "minus zero",
]


@pytest.mark.parametrize("spelling", SPELLINGS)
def test_non_canonical_release_payload_is_refused_although_validly_signed(lab, spelling):
    release_dir = lab.release()
    payload = lab.payload(release_dir)
    hostile = non_canonical_spellings(payload)[spelling]
    assert hostile != payload and json.loads(hostile) == json.loads(payload)
    lab.resign_release(release_dir, hostile)
    with pytest.raises(errors.PayloadFormatError, match="not in canonical form"):
        lab.verify(release_dir)


@pytest.mark.parametrize(
    "spelling",
    [
        "space before",
        "newline after",
        "keys unsorted",
        "spaces after separators",
        "escaped letter in a key",
    ],
)
def test_non_canonical_root_payload_is_refused_although_validly_signed(lab, spelling):
    payload = decode_envelope(lab.root_bytes()).payload
    hostile = non_canonical_spellings(payload)[spelling]
    assert hostile != payload and json.loads(hostile) == json.loads(payload)
    with pytest.raises(errors.PayloadFormatError, match="not in canonical form"):
        lab.verify(lab.release(), lab.signed_root(hostile))


def test_timestamp_with_non_ascii_digits_is_refused(lab):
    # "\uff12\uff10\uff13\uff10" (fullwidth 2030) is canonical JSON, and Python's \d and
    # strptime read it as 2030; another verifier would not.
    release_dir = lab.release()
    document = json.loads(lab.payload(release_dir))
    year, rest = document["expires"][:4], document["expires"][4:]
    document["expires"] = "".join(chr(0xFF10 + int(digit)) for digit in year) + rest
    lab.resign_release(release_dir, canonical_json(document))
    with pytest.raises(errors.PayloadFormatError, match="expires"):
        lab.verify(release_dir)
