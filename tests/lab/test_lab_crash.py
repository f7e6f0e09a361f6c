"""warmboot-lab killed mid-write: the chip never has two writers, and the
half-written chip is remembered until `warmboot-lab recover` puts the last
known-good backup back.

SIGKILL is sent to warmboot-lab alone (flashrom runs in its own session, as
it does when a CI job is killed); a host crash is SIGKILL to both.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time

import pytest

from labkit import EXIT, MARKER

pytestmark = pytest.mark.qemu


def gone(pid: int) -> bool:
    """The process has exited (a zombie waiting for its reaper counts as gone)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] == "Z"
    except FileNotFoundError:
        return True


def wait_gone(pid: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not gone(pid):
        assert time.monotonic() < deadline, f"process {pid} did not end"
        time.sleep(0.05)


def assert_refused_as_unfinished(run, board, chip: bytes, crashed_run) -> dict:
    record = run.record
    assert run.returncode == EXIT["REFUSED"], run.stderr
    assert record["outcome"] == "REFUSED" and record["error_type"] == "UnfinishedWriteError"
    # Not even a read: a suspect chip's read-back must never become a backup.
    assert record["commands"] == [] and record["steps"] == [] and record["backup"] is None
    assert board.chip.read_bytes() == chip
    message = record["message"]
    assert f"run {crashed_run} ended during its write step" in message
    assert "warmboot-lab recover --place q35" in message
    assert str(crashed_run / "backup.rom") in message
    assert run.stderr.startswith("warmboot-lab: REFUSED: place q35: ")
    return record


@pytest.mark.parametrize(
    "wrapper, holds",
    [
        ("", "that process is gone, but a flashrom it started still holds the lock"),
        # A wrapper that closes inherited descriptors (sudo): its process group is named.
        ("+close-fds", "a program that can touch its chip (process group"),
    ],
)
def test_flashrom_that_outlives_a_killed_run_keeps_the_place_locked(
    board, images, releases, wrapper, holds
):
    """SIGKILL of warmboot-lab mid-write: flashrom writes on, and the place stays locked
    until it ends; a second run started at once is BUSY, and no second writer touches
    the chip."""
    url = releases.server.release_url("1.1.0")
    config = board.config(flashrom="slow-first-write-after-input" + wrapper)
    first_dir = board.home / "run-1"
    first = board.start_flash(url, config, first_dir)
    writing = board.wait_for_state("writing")
    orphan = int(writing.read_text())
    first.kill()
    first.communicate(timeout=30)
    assert not gone(orphan) and writing.exists()  # flashrom is still writing

    second = board.flash(url, config=config, run_dir=board.home / "run-2")
    record = second.record
    assert second.returncode == EXIT["BUSY"], second.stderr
    assert record["commands"] == [] and record["steps"] == []
    assert f"run {first_dir}" in record["message"] and holds in record["message"]

    # The orphan's write lands whole: nobody else wrote in between.
    wait_gone(orphan)
    assert not writing.exists()
    assert board.chip.read_bytes() == images.new
    # Nothing verified or boot-checked that write: the place is refused until recovered.
    third = board.flash(url, config=config, run_dir=board.home / "run-3")
    assert_refused_as_unfinished(third, board, images.new, first_dir)


def test_crash_mid_write_is_refused_until_recover_restores_the_good_backup(board, images, releases):
    url = releases.server.release_url("1.1.0")
    first_dir = board.home / "run-1"
    first = board.start_flash(url, board.config(flashrom="crash-in-first-write"), first_dir)
    flashrom = int(board.wait_for_state("writing").read_text())
    # The host crash: the lab tool and flashrom die together, the chip half written.
    first.kill()
    os.killpg(flashrom, signal.SIGKILL)
    first.communicate(timeout=30)
    wait_gone(flashrom)
    half_written = board.chip.read_bytes()
    assert half_written != images.old
    crashed = json.loads((first_dir / "result.json").read_text())
    assert crashed["outcome"] == "RUNNING" and crashed["steps"][-1]["name"] == "write"
    good_sha256 = hashlib.sha256(images.old).hexdigest()
    assert crashed["backup"]["sha256"] == good_sha256

    # A normal flash, even of the release that was running, is refused.
    config = board.config()
    refused = board.flash(url, config=config, run_dir=board.home / "run-2")
    record = assert_refused_as_unfinished(refused, board, half_written, first_dir)
    assert good_sha256 in record["message"]
    places = subprocess.run(
        [sys.executable, "-m", "warmboot.lab.cli", "places", "--config", str(config), "--json"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert json.loads(places.stdout)[0]["flash"] == "writing"

    # recover checks the backup against its recorded sha256 before writing anything.
    backup = first_dir / "backup.rom"
    tampered = bytearray(images.old)
    tampered[0x1000] ^= 0x01
    backup.write_bytes(bytes(tampered))
    bad = board.recover(config=config, run_dir=board.home / "run-3")
    assert bad.returncode == EXIT["REFUSED"], bad.stderr
    assert bad.record["error_type"] == "BackupError"
    assert f"not the recorded {good_sha256}" in bad.record["message"]
    assert not [c for c in bad.record["commands"] if "-w" in c["argv"]]
    assert board.chip.read_bytes() == half_written

    backup.write_bytes(images.old)
    run = board.recover(config=config, run_dir=board.home / "run-4")
    assert run.returncode == EXIT["OK"], run.stderr
    record = run.record
    assert record["command"] == "recover" and record["outcome"] == "OK"
    assert board.chip.read_bytes() == images.old
    assert record["recovery"]["backup"] == str(backup)
    assert record["recovery"]["sha256"] == good_sha256
    assert [s["name"] for s in record["steps"]] == [
        "backup-check",
        "power-off",
        "probe",
        "recover-write",
        "recover-verify",
        "recover-boot-check",
    ]
    assert MARKER in run.console_log("recover-boot")
    assert run.stdout.startswith("warmboot-lab: OK: place q35 recovered")
    # Recovered and booted: the place flashes normally again.
    places = subprocess.run(
        [sys.executable, "-m", "warmboot.lab.cli", "places", "--config", str(config), "--json"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert json.loads(places.stdout)[0]["flash"] == "good"
