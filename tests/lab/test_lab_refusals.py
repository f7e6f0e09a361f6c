"""Refusals: each check before the write stops the run with nothing written.

A refused run exits 3 (REFUSED), 4 (BUSY) or 5 (CANCELLED), writes its record,
leaves the chip byte for byte as it was, and never runs a flashrom write.
None of these boot QEMU.
"""

from __future__ import annotations

import hashlib
import json

import pytest

from labkit import EXIT
from warmboot.lab.lock import hold_place_lock


def assert_nothing_written(run, board, images, outcome: str = "REFUSED") -> dict:
    record = run.record
    assert run.returncode == EXIT[outcome], run.stderr
    assert record["outcome"] == outcome and record["exit_code"] == EXIT[outcome]
    assert record["write_started"] is False
    assert not [c for c in record["commands"] if "-w" in c["argv"]]
    assert board.chip.read_bytes() == images.old
    assert run.stderr.startswith(f"warmboot-lab: {outcome}: ")
    assert len(run.stderr.strip().splitlines()) == 1, run.stderr
    assert "nothing was" in record["message"]
    return record


def cached(board, image: bytes) -> list[str]:
    blobs = board.home / "cache" / "sha256"
    names = sorted(p.name for p in blobs.iterdir()) if blobs.exists() else []
    assert not [n for n in names if n.startswith(".partial")], "a partial download was kept"
    return [n for n in names if n == hashlib.sha256(image).hexdigest()]


def test_tampered_image_is_refused_uncached_and_nothing_is_flashed(board, images, releases):
    run = board.flash(releases.server.release_url("1.1.0", tree="tampered"))
    record = assert_nothing_written(run, board, images)
    assert record["failed_step"] == "download" and record["error_type"] == "DownloadError"
    assert "does not match its signed sha256" in record["message"]
    assert not [c for c in record["commands"] if c["label"] == "probe"]
    assert cached(board, images.new) == []


def test_forged_envelope_is_refused_before_the_image_is_downloaded(board, images, releases):
    url = releases.server.release_url("1.1.0", tree="forged")
    run = board.flash(url)
    record = assert_nothing_written(run, board, images)
    assert record["failed_step"] == "download"
    assert record["error_type"] in ("BadSignatureError", "EnvelopeFormatError")
    assert releases.server.fetched(url.split("//", 1)[1].split("/", 1)[1] + "release.json")
    assert not releases.server.fetched("/forged/qemu-q35/1.1.0/coreboot.rom")


def test_download_cut_short_is_refused_and_nothing_is_cached(board, images, releases):
    run = board.flash(releases.server.release_url("1.1.0", tree="cut"))
    record = assert_nothing_written(run, board, images)
    assert record["failed_step"] == "download" and record["error_type"] == "DownloadError"
    assert "coreboot.rom" in record["message"]
    assert cached(board, images.new) == []
    # The same release in full is then accepted from scratch (up to the probe, here).


@pytest.mark.parametrize(
    "emulated, size, found",
    [
        ("S25FL128L", 16 << 20, '"S25FL128L" (16 MiB)'),  # same size, another chip
        ("MX25L6436", 8 << 20, '"MX25L6405" (8 MiB)'),  # several definitions, none ours
    ],
)
def test_wrong_flash_chip_is_refused_before_backup_or_write(
    board, images, releases, emulated, size, found
):
    other_chip = board.home / "other-chip.bin"
    other_chip.write_bytes(b"\xff" * size)
    config = board.config(programmer=f"dummy:emulate={emulated},image={other_chip}")
    run = board.flash(releases.server.release_url("1.1.0"), config=config)
    record = assert_nothing_written(run, board, images)
    assert record["failed_step"] == "probe" and record["error_type"] == "BoardIdentityError"
    assert found in record["message"] and '"W25Q128.V" (16 MiB)' in record["message"]
    assert record["backup"] is None and not (run.run_dir / "backup.rom").exists()
    assert [c["label"] for c in record["commands"]] == ["power-off", "probe"]
    assert other_chip.read_bytes() == b"\xff" * size


def test_second_run_on_a_locked_place_is_refused_as_busy(board, images, releases, tmp_path):
    with hold_place_lock(board.home / "locks", "q35", f"run {tmp_path / 'first-run'}"):
        run = board.flash(releases.server.release_url("1.1.0"))
    record = assert_nothing_written(run, board, images, "BUSY")
    assert f"run {tmp_path / 'first-run'}" in record["message"]
    assert record["steps"] == [] and record["commands"] == []


def test_unstable_backup_reads_are_refused_before_the_write(board, images, releases):
    run = board.flash(
        releases.server.release_url("1.1.0"), config=board.config(flashrom="unstable-reads")
    )
    record = assert_nothing_written(run, board, images)
    assert record["failed_step"] == "backup" and record["error_type"] == "BackupError"
    assert (
        "two reads of the flash differ (1 bytes, the first at offset 0x1234)" in record["message"]
    )


def test_release_older_than_the_rollback_state_is_refused_before_its_download(
    board, images, releases, tmp_path
):
    state = tmp_path / "state.json"
    state.write_text(
        json.dumps(
            {
                "format": "warmboot-rollback-state",
                "format_version": 1,
                "root_version": 1,
                "boards": {"qemu-q35": {"version": "1.1.0", "security_version": 1}},
            }
        )
    )
    before = len(releases.server.fetched("/dist/qemu-q35/1.0.0/coreboot.rom"))
    run = board.flash(releases.server.release_url("1.0.0"), "--state", str(state))
    record = assert_nothing_written(run, board, images)
    assert record["error_type"] == "VersionRollbackError"
    assert len(releases.server.fetched("/dist/qemu-q35/1.0.0/coreboot.rom")) == before


def test_sigint_before_the_write_cancels_the_run_with_nothing_written(board, images, releases):
    run, notices = board.flash_and_interrupt(
        releases.server.release_url("1.1.0"), board.config(flashrom="slow-reads"), "reading"
    )
    assert notices == ["warmboot-lab: SIGINT received: stopping before anything is written"]
    record = assert_nothing_written(run, board, images, "CANCELLED")
    assert record["interrupted_by"] == "SIGINT"
    # The read in progress was not killed: it finished, and the run stopped after it.
    assert [c["exit_code"] for c in record["commands"] if c["label"].startswith("read")] == [0]
