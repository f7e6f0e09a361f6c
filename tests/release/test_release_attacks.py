"""The attack table of docs/releases.md: each attack is rejected with its own error.

Every test builds a genuine release with throwaway keys, applies one attack,
and checks the exception class and the words of its message.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import logging
from datetime import timedelta

import pytest

from warmboot.release import errors
from warmboot.release.curves import P256_N
from warmboot.release.layout import MANIFEST_FILE, RELEASE_ENVELOPE_FILE, ROM_FILE
from warmboot.release.state import load_state
from warmboot.release.verify import check_image


def envelope_json(release_dir):
    return json.loads((release_dir / RELEASE_ENVELOPE_FILE).read_text())


def write_envelope_json(release_dir, document) -> None:
    (release_dir / RELEASE_ENVELOPE_FILE).write_text(
        json.dumps(document, sort_keys=True, indent=2) + "\n"
    )


# --- happy path ---------------------------------------------------------------


def test_genuine_release_verifies_and_reports_its_signers(lab):
    release_dir = lab.release("1.2.3", security_version=4)
    result = lab.verify(release_dir)
    assert str(result.payload.version) == "1.2.3"
    assert result.payload.security_version == 4
    assert result.payload.board.name == lab.board
    assert set(result.signed_by) == {lab.keys["rel1"].key_id, lab.keys["rel2"].key_id}
    assert result.ignored_key_ids == ()
    assert result.warnings == ()
    assert result.image == lab.rom
    assert [a.name for a in result.payload.board.fmap.areas] == ["BIOS", "FMAP", "COREBOOT"]


def test_release_signed_with_ecdsa_p256_keys_verifies(lab):
    root = lab.root_bytes(release_keys=("ecdsa1", "ecdsa2", "rel1"), release_threshold=2)
    release_dir = lab.release(signed_by=("ecdsa1", "rel1"))
    result = lab.verify(release_dir, root)
    assert set(result.signed_by) == {lab.keys["ecdsa1"].key_id, lab.keys["rel1"].key_id}


# --- tampering ----------------------------------------------------------------


def test_flipped_byte_in_image_is_rejected(lab, flip_byte):
    release_dir = lab.release()
    flip_byte(release_dir / ROM_FILE, 0x1234)
    with pytest.raises(errors.ImageHashMismatchError, match="does not match the signed sha256"):
        lab.verify(release_dir)


def test_flipped_byte_in_envelope_payload_is_rejected(lab):
    release_dir = lab.release()
    document = envelope_json(release_dir)
    payload = bytearray(base64.b64decode(document["payload"]))
    payload[payload.index(b'"security_version":1') + len(b'"security_version":')] = ord("9")
    document["payload"] = base64.b64encode(bytes(payload)).decode()
    write_envelope_json(release_dir, document)
    with pytest.raises(errors.BadSignatureError, match="does not verify"):
        lab.verify(release_dir)


def test_flipped_byte_in_signature_is_rejected(lab):
    release_dir = lab.release()
    document = envelope_json(release_dir)
    sig = bytearray(base64.b64decode(document["signatures"][0]["sig"]))
    sig[10] ^= 0x01
    document["signatures"][0]["sig"] = base64.b64encode(bytes(sig)).decode()
    write_envelope_json(release_dir, document)
    with pytest.raises(errors.BadSignatureError, match=document["signatures"][0]["keyid"]):
        lab.verify(release_dir)


def test_hand_edited_envelope_is_rejected_as_not_canonical(lab):
    release_dir = lab.release()
    path = release_dir / RELEASE_ENVELOPE_FILE
    path.write_text(json.dumps(json.loads(path.read_text())))  # same content, other spelling
    with pytest.raises(errors.EnvelopeFormatError, match="not in canonical form"):
        lab.verify(release_dir)


def test_image_from_another_release_is_rejected(lab, make_rom):
    genuine = lab.release("1.0.0")
    other = lab.release("1.0.1", rom=make_rom(seed=2))
    (genuine / ROM_FILE).write_bytes((other / ROM_FILE).read_bytes())
    with pytest.raises(errors.ImageHashMismatchError):
        lab.verify(genuine)


def test_manifest_from_another_build_is_rejected(lab):
    release_dir = lab.release()
    (release_dir / MANIFEST_FILE).write_bytes(b'{"sources": {}}\n')
    with pytest.raises(errors.ManifestMismatchError, match="another build"):
        lab.verify(release_dir)


def test_longer_image_is_rejected_before_hashing(lab):
    release_dir = lab.release()
    with open(release_dir / ROM_FILE, "ab") as handle:
        handle.write(b"\0" * 4096)
    with pytest.raises(errors.ImageLengthMismatchError, match="longer than the signed length"):
        lab.verify(release_dir)


def test_truncated_image_is_rejected(lab):
    release_dir = lab.release()
    (release_dir / ROM_FILE).write_bytes(lab.rom[:-1])
    with pytest.raises(errors.ImageLengthMismatchError, match="shorter"):
        lab.verify(release_dir)


def test_oversized_envelope_is_rejected_before_parsing(lab):
    release_dir = lab.release()
    (release_dir / RELEASE_ENVELOPE_FILE).write_bytes(b" " * (2 * 1024 * 1024))
    with pytest.raises(errors.ReleaseFileError, match="larger than"):
        lab.verify(release_dir)


# --- who signed -----------------------------------------------------------------


def test_valid_signature_by_unknown_key_does_not_count(lab):
    release_dir = lab.release(signed_by=("stranger",))
    with pytest.raises(
        errors.SignedByUnknownKeysError, match=f"0 of the 2 .* {lab.keys['stranger'].key_id}"
    ):
        lab.verify(release_dir)


def test_unknown_key_alongside_a_threshold_is_ignored_and_reported(lab):
    result = lab.verify(lab.release(signed_by=("rel1", "stranger", "rel3")))
    assert result.ignored_key_ids == (lab.keys["stranger"].key_id,)
    assert len(result.signed_by) == 2


def test_threshold_not_met_is_rejected(lab):
    release_dir = lab.release(signed_by=("rel1",))
    with pytest.raises(errors.ThresholdNotMetError, match="signed by 1 of the 2 required release"):
        lab.verify(release_dir)


def test_duplicate_signatures_by_one_key_count_once(lab):
    release_dir = lab.release(signed_by=("rel1",))
    document = envelope_json(release_dir)
    document["signatures"].append(dict(document["signatures"][0]))
    write_envelope_json(release_dir, document)
    with pytest.raises(errors.ThresholdNotMetError, match="signed by 1 of the 2"):
        lab.verify(release_dir)


def test_root_key_cannot_sign_a_release(lab):
    release_dir = lab.release(signed_by=("root1", "root2"))
    with pytest.raises(errors.SignedByUnknownKeysError, match="not release keys"):
        lab.verify(release_dir)


def test_root_envelope_offered_as_release_is_rejected(lab):
    release_dir = lab.release()
    (release_dir / RELEASE_ENVELOPE_FILE).write_bytes(lab.root_bytes())
    with pytest.raises(
        errors.PayloadTypeError, match=r"expected 'application/vnd\.warmboot\.release"
    ):
        lab.verify(release_dir)


# --- time -------------------------------------------------------------------------


def test_expired_release_is_rejected(lab):
    release_dir = lab.release(expires=lab.now + timedelta(days=1))
    with pytest.raises(errors.ReleaseExpiredError, match="expired at"):
        lab.verify(release_dir, now=lab.now + timedelta(days=2))


def test_expired_release_passes_only_with_override_which_is_logged(lab, caplog):
    release_dir = lab.release(expires=lab.now + timedelta(days=1))
    with caplog.at_level(logging.WARNING, logger="warmboot.release"):
        result = lab.verify(release_dir, now=lab.now + timedelta(days=2), allow_expired=True)
    assert any("expired at" in w and "overridden" in w for w in result.warnings)
    assert "explicitly overridden" in caplog.text


def test_expired_root_is_rejected(lab):
    root = lab.root_bytes(expires=lab.now - timedelta(seconds=1))
    with pytest.raises(errors.RootExpiredError, match="root version 1 expired"):
        lab.verify(lab.release(), root)


# --- rollback -----------------------------------------------------------------------


def test_version_rollback_is_rejected(lab):
    state = lab.tmp_path / "state.json"
    lab.verify(lab.release("2.0.0", security_version=1), state_file=state, commit_state=True)
    with pytest.raises(errors.VersionRollbackError, match=r"older than version 2.0.0"):
        lab.verify(lab.release("1.9.9", security_version=1), state_file=state)


def test_version_comparison_is_numeric_not_textual(lab):
    state = lab.tmp_path / "state.json"
    lab.verify(lab.release("1.9.0"), state_file=state, commit_state=True)
    assert lab.verify(lab.release("1.10.0"), state_file=state).payload.version.minor == 10


def test_security_version_rollback_is_rejected_even_with_downgrade_override(lab):
    state = lab.tmp_path / "state.json"
    lab.verify(lab.release("1.0.0", security_version=3), state_file=state, commit_state=True)
    with pytest.raises(errors.SecurityVersionRollbackError, match="security_version 2, lower"):
        lab.verify(
            lab.release("1.1.0", security_version=2), state_file=state, allow_version_downgrade=True
        )


def test_version_downgrade_override_is_logged_and_never_lowers_the_state(lab):
    state = lab.tmp_path / "state.json"
    lab.verify(lab.release("2.0.0"), state_file=state, commit_state=True)
    result = lab.verify(
        lab.release("1.0.0"), state_file=state, commit_state=True, allow_version_downgrade=True
    )
    assert "downgrade was explicitly allowed" in result.warnings[0]
    assert str(load_state(state).boards[lab.board].version) == "2.0.0"


def test_reinstalling_the_accepted_version_passes(lab):
    state = lab.tmp_path / "state.json"
    release_dir = lab.release("1.0.0")
    lab.verify(release_dir, state_file=state, commit_state=True)
    assert lab.verify(release_dir, state_file=state, commit_state=True).state_committed


def test_rollback_state_advances_only_when_committed_and_verified(lab, flip_byte):
    state = lab.tmp_path / "state.json"
    lab.verify(lab.release("1.0.0"), state_file=state)
    assert not state.exists()
    tampered = lab.release("3.0.0", security_version=9)
    flip_byte(tampered / ROM_FILE, 5)
    with pytest.raises(errors.ImageHashMismatchError):
        lab.verify(tampered, state_file=state, commit_state=True)
    assert not state.exists()
    lab.verify(lab.release("2.0.0", security_version=2), state_file=state, commit_state=True)
    recorded = load_state(state)
    assert (
        str(recorded.boards[lab.board].version),
        recorded.boards[lab.board].security_version,
        recorded.root_version,
    ) == ("2.0.0", 2, 1)
    assert [p.name for p in lab.tmp_path.iterdir() if p.name.startswith(".tmp")] == []


def test_malformed_state_file_is_rejected(lab):
    state = lab.tmp_path / "state.json"
    state.write_text('{"format": "warmboot-rollback-state"}')
    with pytest.raises(errors.StateFileError, match="lacks field"):
        lab.verify(lab.release(), state_file=state)


# --- wrong board ----------------------------------------------------------------------


def test_release_for_another_board_is_rejected(lab):
    release_dir = lab.release(board="qemu-i440fx")
    with pytest.raises(errors.WrongBoardError, match="is for board 'qemu-i440fx', not 'qemu-q35'"):
        lab.verify(release_dir)


def test_release_for_another_flash_size_is_rejected(lab):
    with pytest.raises(errors.WrongBoardError, match="65536-byte flash, not 16777216"):
        lab.verify(lab.release(), flash_size=16 * 1024 * 1024)


# --- a signer whose payload disagrees with its own image ---------------------------------
# The full-image hashes already bind every byte; these checks catch a buggy or
# hostile signing tool whose layout or region digests do not describe the image.


def test_signed_fmap_that_disagrees_with_the_image_is_rejected(lab):
    payload = lab.verify(lab.release()).payload
    moved = dataclasses.replace(payload.board.fmap, name="OTHER")
    doctored = dataclasses.replace(payload, board=dataclasses.replace(payload.board, fmap=moved))
    with pytest.raises(errors.FmapMismatchError, match="differs from the signed board layout"):
        check_image(doctored, lab.rom)


def test_signed_region_hash_that_disagrees_with_the_image_is_rejected(lab):
    payload = lab.verify(lab.release()).payload
    regions = {**payload.image.region_sha256, "COREBOOT": "0" * 64}
    doctored = dataclasses.replace(
        payload, image=dataclasses.replace(payload.image, region_sha256=regions)
    )
    with pytest.raises(errors.RegionHashMismatchError, match="region COREBOOT"):
        check_image(doctored, lab.rom)


# --- signature malleability -------------------------------------------------------------


def test_release_with_a_high_s_ecdsa_signature_is_rejected(lab):
    root = lab.root_bytes(release_keys=("ecdsa1", "ecdsa2", "rel1"), release_threshold=2)
    release_dir = lab.release(signed_by=("ecdsa1", "rel1"))
    document = envelope_json(release_dir)
    ecdsa_id = lab.keys["ecdsa1"].key_id
    entry = next(s for s in document["signatures"] if s["keyid"] == ecdsa_id)
    sig = base64.b64decode(entry["sig"])
    other = (P256_N - int.from_bytes(sig[32:], "big")).to_bytes(32, "big")
    entry["sig"] = base64.b64encode(sig[:32] + other).decode()  # (r, n - s): also "valid"
    write_envelope_json(release_dir, document)
    with pytest.raises(errors.BadSignatureError, match=ecdsa_id):
        lab.verify(release_dir, root)
