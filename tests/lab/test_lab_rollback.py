"""Faults after the write started: the flash gets its old image back, verified,
and the board is seen booting it, or the run says the board may be bricked.

Faults are injected with real programs: a flashrom wrapper (fake_flashrom.py)
that fails or lies, an image that never reaches LinuxBoot, and SIGINT sent
to warmboot-lab's process group (what Ctrl-C does) in the middle of a write.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from labkit import EXIT, MARKER

pytestmark = pytest.mark.qemu


def assert_rolled_back_and_old_image_booted(run, board, images, failed_step: str) -> dict:
    record = run.record
    assert run.returncode == EXIT["ROLLED_BACK"], run.stderr
    assert record["outcome"] == "ROLLED_BACK" and record["failed_step"] == failed_step
    assert record["write_started"] is True
    assert record["rollback"]["flash_restored"] and record["rollback"]["booted"]
    # The chip holds exactly the old image again ...
    assert board.chip.read_bytes() == images.old
    assert record["backup"]["sha256"] == hashlib.sha256(images.old).hexdigest()
    # ... which was verified and then booted, as the console shows.
    names = run.step_names()
    assert names.index("rollback-verify") < names.index("rollback-boot-check")
    assert run.step("rollback-boot-check")["status"] == "ok"
    console = run.console_log("rollback-boot")
    assert console.index("bootblock starting") < console.index(MARKER)
    assert run.stderr.startswith("warmboot-lab: ROLLED_BACK: ")
    assert len(run.stderr.strip().splitlines()) == 1
    return record


def test_write_that_fails_halfway_is_rolled_back_and_the_old_image_boots(board, images, releases):
    run = board.flash(
        releases.server.release_url("1.1.0"), config=board.config(flashrom="fail-first-write")
    )
    record = assert_rolled_back_and_old_image_booted(run, board, images, "write")
    assert "FAILED at 0x00800000" in record["rollback"]["reason"]
    assert "boot-check" not in run.step_names()


def test_flashrom_that_lies_about_its_write_is_caught_by_verify_and_rolled_back(
    board, images, releases
):
    run = board.flash(
        releases.server.release_url("1.1.0"), config=board.config(flashrom="lie-on-first-write")
    )
    record = assert_rolled_back_and_old_image_booted(run, board, images, "verify-flash")
    assert record["error_type"] == "FlashVerifyError"
    assert run.step("write")["status"] == "ok"  # flashrom claimed success
    assert "FAILED at 0x00900000" in record["rollback"]["reason"]


def test_image_that_never_reaches_the_linuxboot_marker_is_rolled_back(board, images, releases):
    config = board.config(marker_timeout=5, rollback_marker_timeout=60)
    run = board.flash(releases.server.release_url("1.2.0"), config=config)
    record = assert_rolled_back_and_old_image_booted(run, board, images, "boot-check")
    assert record["error_type"] == "BootCheckError"
    assert "'linuxboot'" in record["rollback"]["reason"]
    # The new image did boot coreboot, which then found no payload.
    new_boot = run.console_log("boot")
    assert "bootblock starting" in new_boot and "Payload not loaded" in new_boot
    assert MARKER not in new_boot
    assert [m["name"] for m in run.step("boot-check")["detail"]["markers"]] == ["coreboot"]


def test_rollback_that_cannot_restore_the_flash_reports_bricked_with_the_backup(
    board, images, releases
):
    run = board.flash(
        releases.server.release_url("1.1.0"), config=board.config(flashrom="fail-every-write")
    )
    record = run.record
    assert run.returncode == EXIT["BRICKED"], run.stderr
    assert record["outcome"] == "BRICKED"
    assert record["rollback"]["flash_restored"] is False
    # Two attempts to restore, both failed; no boot was attempted on a broken chip.
    attempts = [step for step in record["steps"] if step["name"] == "rollback-write"]
    assert [step["status"] for step in attempts] == ["failed", "failed"]
    assert "rollback-boot-check" not in run.step_names()
    # What to do next names an external programmer and the backup, with its hash.
    backup = run.run_dir / "backup.rom"
    old_sha256 = hashlib.sha256(images.old).hexdigest()
    assert backup.read_bytes() == images.old
    assert str(backup) in record["message"] and old_sha256 in record["message"]
    steps = " ".join(record["next_steps"])
    assert "external programmer" in steps and str(backup) in steps and old_sha256 in steps
    assert board.chip.read_bytes() != images.old  # the chip really is broken
    assert run.stderr.startswith("warmboot-lab: BRICKED: ")


def test_flashrom_that_hangs_is_killed_after_its_timeout_and_rolled_back(board, images, releases):
    run = board.flash(
        releases.server.release_url("1.1.0"),
        config=board.config(flashrom="hang-on-first-write", flashrom_timeout=12),
    )
    record = assert_rolled_back_and_old_image_booted(run, board, images, "write")
    write = next(c for c in record["commands"] if c["label"] == "write")
    assert write["timed_out"] is True and write["exit_code"] is None
    assert "flashrom did not finish within 12 s (killed)" in record["rollback"]["reason"]


def test_restored_image_that_does_not_boot_either_is_reported_bricked(board, images, releases):
    """The board never booted (its chip held coreboot without a payload): the
    rollback restores and verifies that image, sees it fail, and says so."""
    board.chip.write_bytes(images.no_payload)
    config = board.config(flashrom="lie-on-first-write", failures=("Payload not loaded",))
    run = board.flash(releases.server.release_url("1.1.0"), config=config)
    record = run.record
    assert run.returncode == EXIT["BRICKED"], run.stderr
    assert record["rollback"]["flash_restored"] is True and record["rollback"]["booted"] is False
    assert board.chip.read_bytes() == images.no_payload
    assert run.step("rollback-boot-check")["error"].startswith(
        "the console printed the failure pattern 'Payload not loaded'"
    )
    assert "check power and console wiring first" in " ".join(record["next_steps"])
    assert "Payload not loaded" in run.console_log("rollback-boot")


def test_sigint_during_the_write_lets_write_and_verify_finish_then_rolls_back(
    board, images, releases
):
    """Ctrl-C mid-write: flashrom is not killed, the write completes and is
    verified, and then the run restores the old image instead of going on."""
    run, notices = board.flash_and_interrupt(
        releases.server.release_url("1.1.0"), board.config(flashrom="slow-first-write"), "writing"
    )
    assert notices == [
        "warmboot-lab: SIGINT received: the write and its verify finish first, "
        "then the previous image is restored"
    ]
    record = assert_rolled_back_and_old_image_booted(run, board, images, failed_step=None)
    assert record["interrupted_by"] == "SIGINT"
    assert record["rollback"]["reason"].startswith("SIGINT received during the write")
    # The interrupted write ran to its end and was verified before the rollback.
    assert run.step("write")["status"] == "ok"
    assert run.step("verify-flash")["status"] == "ok"
    assert "boot-check" not in run.step_names()
    write_log = next(c["log"] for c in record["commands"] if c["label"] == "write")
    assert "Verifying flash... VERIFIED." in Path(write_log).read_text()
