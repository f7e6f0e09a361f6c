"""The build side: create_release refuses what would make a bad or misleading release."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from warmboot.release import (
    create_release,
    decode_envelope,
    errors,
    release_directory,
    sign_release,
)


def create(lab, out, rom_bytes=None, **overrides):
    options = dict(
        rom=lab.write("in.rom", rom_bytes or lab.rom),
        manifest=lab.write("in.manifest.json", lab.manifest),
        board=lab.board,
        version="1.0.0",
        security_version=1,
        expires=lab.now + timedelta(days=30),
        signers=[lab.keys["rel1"], lab.keys["rel2"]],
        now=lab.now,
    )
    options.update(overrides)
    return create_release(out, **options)


def test_release_directory_is_dist_board_version(tmp_path):
    assert release_directory(tmp_path, "qemu-q35", "1.2.3") == tmp_path / "qemu-q35" / "1.2.3"


@pytest.mark.parametrize("version", ["1.2", "v1.2.3", "1.02.3", "1.2.3-rc1", ""])
def test_version_must_be_major_minor_patch(tmp_path, version):
    with pytest.raises(errors.PayloadFormatError, match=r"MAJOR.MINOR.PATCH"):
        release_directory(tmp_path, "qemu-q35", version)


def test_rom_without_fmap_is_refused(lab):
    with pytest.raises(errors.FmapNotFoundError, match=r"coreboot.rom has no FMAP"):
        create(lab, lab.tmp_path / "out", rom_bytes=b"\xff" * 0x10000)
    assert not (lab.tmp_path / "out").exists()  # refused before anything was written


def test_expiry_in_the_past_is_refused(lab):
    with pytest.raises(errors.PayloadFormatError, match="is not in the future"):
        create(lab, lab.tmp_path / "out", expires=lab.now - timedelta(seconds=1))


def test_signer_outside_the_roots_release_role_is_refused(lab):
    root = lab.write("root.json", lab.root_bytes())
    with pytest.raises(errors.SignerNotInRootError, match="is not a release key of root version 1"):
        create(lab, lab.tmp_path / "out", signers=[lab.keys["stranger"]], root_chain=[root])


def test_payload_is_canonical_json_describing_the_image(lab):
    created = create(lab, lab.tmp_path / "out")
    payload = decode_envelope((created.envelope_path).read_bytes()).payload
    document = json.loads(payload)
    assert payload == json.dumps(document, sort_keys=True, separators=(",", ":")).encode()
    assert document["image"]["length"] == len(lab.rom)
    assert sorted(document["image"]["regions"]) == ["BIOS", "COREBOOT", "FMAP"]
    assert document["board"]["fmap"]["areas"][2] == {
        "name": "COREBOOT",
        "offset": 0x8200,
        "size": 0x7E00,
        "flags": 0,
    }


def test_co_signing_keeps_the_payload_bytes(lab):
    out = lab.tmp_path / "out"
    before = decode_envelope(
        create(lab, out, signers=[lab.keys["rel1"]]).envelope_path.read_bytes()
    )
    after = sign_release(out, [lab.keys["rel3"]])
    assert decode_envelope(after.envelope_path.read_bytes()).payload == before.payload
    assert after.signed_by == (lab.keys["rel1"].key_id, lab.keys["rel3"].key_id)
    assert lab.verify(out).signed_by == after.signed_by
