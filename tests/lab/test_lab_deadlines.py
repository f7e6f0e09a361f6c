"""Time limits and signals during the download: a wall-clock deadline that no
server can stretch, and a signal that ends the run within about a second.

The server trickles one byte a second, so every single read comes well within
download_timeout; only a deadline on the whole download can end it. None of
these boot QEMU.
"""

from __future__ import annotations

import signal
import time

import pytest

from labkit import EXIT, LabRun
from test_lab_refusals import assert_nothing_written, cached


@pytest.mark.parametrize(
    "tree, where",
    [
        ("trickle", "coreboot.rom"),  # the image's body, one byte a second
        ("trickle-head", "release.json"),  # the first file's response headers
    ],
)
def test_trickling_server_is_cut_off_at_the_download_deadline(board, images, releases, tree, where):
    config = board.config(download_max_seconds=3)
    began = time.monotonic()
    run = board.flash(releases.server.release_url("1.1.0", tree=tree), config=config, timeout=40)
    seconds = time.monotonic() - began
    record = assert_nothing_written(run, board, images)
    assert record["failed_step"] == "download" and record["error_type"] == "DownloadError"
    assert where in record["message"]
    assert "did not finish within download_max_seconds (3 s" in record["message"]
    assert run.step("download")["seconds"] < 4.5
    assert seconds < 15, f"the run took {seconds:.1f} s"
    assert cached(board, images.new) == []


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_signal_during_a_download_cancels_the_run_within_a_second(board, images, releases, signum):
    url = releases.server.release_url("1.1.0", tree="trickle")
    image = "/trickle/qemu-q35/1.1.0/coreboot.rom"
    before = len(releases.server.fetched(image))  # the server serves the whole session
    proc = board.start_flash(url, board.config(), board.home / "run")
    try:
        deadline = time.monotonic() + 60
        while len(releases.server.fetched(image)) == before:
            assert time.monotonic() < deadline and proc.poll() is None, proc.stderr.read()
            time.sleep(0.02)
        time.sleep(0.5)  # well inside the trickle
        proc.send_signal(signum)
        sent = time.monotonic()
        stdout, stderr = proc.communicate(timeout=30)
        seconds = time.monotonic() - sent
    finally:
        proc.kill()
    name = signal.Signals(signum).name
    notice = f"warmboot-lab: {name} received: stopping before anything is written\n"
    assert stderr.startswith(notice), stderr
    assert seconds < 1.5, f"the run ended {seconds:.2f} s after {name}"
    run = LabRun(proc.returncode, stdout, stderr[len(notice) :], board.home / "run")
    record = assert_nothing_written(run, board, images, "CANCELLED")
    assert run.returncode == EXIT["CANCELLED"]
    assert record["interrupted_by"] == name and record["failed_step"] == "download"
    assert "interrupted while downloading" in record["message"]
    assert record["commands"] == []  # no probe, no read: it stopped where it was
    assert cached(board, images.new) == []
