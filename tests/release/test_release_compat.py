"""Releases signed before the hardening of issue 16 still verify.

tests/release/fixtures/pre-hardening/ was written by the code of main at
1c5c54c (throwaway keys, private halves discarded): a root with one Ed25519
root key and an Ed25519 plus an ECDSA P-256 release key (threshold 2), a
release of a 4 KiB synthetic ROM signed by both, and the state file that
verifying it with --commit-state wrote. Its ECDSA signature happens to be
low-S; an old high-S one is refused now and must be re-signed (docs/releases.md).
"""

from __future__ import annotations

import shutil
from datetime import UTC, datetime
from pathlib import Path

from warmboot.release import verify_release
from warmboot.release.state import load_state

FIXTURE = Path(__file__).parent / "fixtures" / "pre-hardening"
NOW = datetime(2030, 1, 1, tzinfo=UTC)  # the fixture expires in 2030-04


def test_release_signed_before_the_hardening_still_verifies(tmp_path):
    state = tmp_path / "state.json"
    shutil.copyfile(FIXTURE / "state.json", state)
    result = verify_release(
        FIXTURE / "release",
        FIXTURE / "root.json",
        board="qemu-q35",
        now=NOW,
        state_file=state,
        commit_state=True,
    )
    assert len(result.signed_by) == 2
    assert str(result.payload.version) == "1.0.0"
    assert load_state(state) == load_state(FIXTURE / "state.json")
