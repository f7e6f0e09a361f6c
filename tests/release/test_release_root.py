"""Root metadata: trust anchors, rotation (TUF rule), stale and gapped chains."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from warmboot.release import decode_envelope, errors, load_trusted_root, update_root
from warmboot.release.encoding import canonical_json
from warmboot.release.root import decode_root, walk_root_chain


def rotated_root(lab, version=2, signed_by=("root1", "root2", "newroot1", "newroot2"), **kw):
    """Root `version` whose root and release keys are all new."""
    kw.setdefault("root_keys", ("newroot1", "newroot2"))
    kw.setdefault("release_keys", ("newrel1", "newrel2"))
    return lab.root_bytes(version, signed_by=signed_by, **kw)


def test_rotation_signed_by_old_and_new_thresholds_is_accepted(lab):
    trusted = lab.trusted_root()
    new = update_root(trusted, rotated_root(lab))
    assert new.version == 2
    assert new.metadata.release.key_ids == tuple(
        sorted(lab.keys[k].key_id for k in ("newrel1", "newrel2"))
    )


def test_release_after_rotation_verifies_through_the_roots_directory(lab):
    roots = [lab.root_bytes(1), rotated_root(lab)]
    release_dir = lab.release(signed_by=("newrel1", "newrel2"), roots=roots)
    assert (release_dir / "roots" / "2.root.json").read_bytes() == roots[1]
    result = lab.verify(release_dir, roots[0])
    assert result.root_version == 2


def test_rotation_signed_only_by_new_keys_is_rejected(lab):
    with pytest.raises(
        errors.RootRotationError,
        match="root keys of trusted root version 1, is signed by 0 of the 2",
    ):
        update_root(lab.trusted_root(), rotated_root(lab, signed_by=("newroot1", "newroot2")))


def test_rotation_signed_by_too_few_old_keys_is_rejected(lab):
    with pytest.raises(errors.RootRotationError, match="signed by 1 of the 2"):
        update_root(
            lab.trusted_root(), rotated_root(lab, signed_by=("root1", "newroot1", "newroot2"))
        )


def test_rotation_not_signed_by_its_own_new_keys_is_rejected(lab):
    with pytest.raises(errors.ThresholdNotMetError, match=r"\(version 2\) is signed by 0 of the 2"):
        update_root(lab.trusted_root(), rotated_root(lab, signed_by=("root1", "root2")))


def test_rotation_revokes_the_old_release_keys(lab):
    roots = [lab.root_bytes(1), rotated_root(lab)]
    release_dir = lab.release(signed_by=("rel1", "rel2"))
    lab.write(f"{release_dir.relative_to(lab.tmp_path)}/roots/2.root.json", roots[1])
    with pytest.raises(errors.SignedByUnknownKeysError, match="0 of the 2 required release keys"):
        lab.verify(release_dir, roots[0])


def test_root_older_than_the_trusted_root_is_rejected(lab):
    trusted = update_root(lab.trusted_root(), rotated_root(lab))
    with pytest.raises(
        errors.StaleRootError, match="version 1, which is not newer than the trusted root version 2"
    ):
        update_root(trusted, lab.root_bytes(1))


def test_release_whose_root_chain_stops_below_the_hosts_root_is_rejected(lab):
    """Freeze on the root: hiding root 2 (which revoked keys) from a host that has seen it."""
    roots = [lab.root_bytes(1), rotated_root(lab)]
    state = lab.tmp_path / "state.json"
    lab.verify(
        lab.release("1.0.0", signed_by=("newrel1", "newrel2"), roots=roots),
        roots[0],
        state_file=state,
        commit_state=True,
    )
    stale = lab.release("1.1.0", signed_by=("rel1", "rel2"), roots=roots[:1])
    with pytest.raises(
        errors.StaleRootError,
        match="ends at version 1, but this host has already accepted root version 2",
    ):
        lab.verify(stale, roots[0], state_file=state)


def test_root_version_gap_is_rejected(lab):
    with pytest.raises(errors.RootVersionError, match="after trusted root version 1 comes 2"):
        update_root(lab.trusted_root(), rotated_root(lab, version=3))


def test_root_chain_walk_reaches_the_newest_root(lab):
    roots = {
        2: rotated_root(lab),
        3: lab.root_bytes(
            3,
            root_keys=("root3", "newroot2"),
            release_keys=("rel3",),
            release_threshold=1,
            signed_by=("newroot1", "newroot2", "root3"),
        ),
    }
    assert walk_root_chain(lab.trusted_root(), roots.get).version == 3


def test_trusted_root_without_its_own_threshold_is_rejected(lab):
    with pytest.raises(errors.ThresholdNotMetError, match="signed by 1 of the 2 required root"):
        load_trusted_root(lab.root_bytes(signed_by=("root1",)))


def test_expired_trusted_root_can_still_vouch_for_a_newer_one(lab):
    roots = [lab.root_bytes(1, expires=lab.now - timedelta(days=1)), rotated_root(lab)]
    release_dir = lab.release(signed_by=("newrel1", "newrel2"), roots=roots)
    assert lab.verify(release_dir, roots[0]).root_version == 2


def test_root_listing_a_key_under_a_wrong_key_id_is_rejected(lab):
    payload = json.loads(decode_envelope(lab.root_bytes()).payload)
    first, second = list(payload["keys"])[:2]
    payload["keys"][first], payload["keys"][second] = (
        payload["keys"][second],
        payload["keys"][first],
    )
    with pytest.raises(errors.PayloadFormatError, match="has key id"):
        # Canonical, so the key id check (not the spelling rule) is what refuses it.
        decode_root(canonical_json(payload))
