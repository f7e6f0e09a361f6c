"""The lab's own files: lock, run and cache directories that nobody else can
redirect, disk errors that end as one clear line, and small download and
backup rules (redirects, short reads).

Links and modes are planted the way another local user (or a careless
script) would; full and read-only file systems are small tmpfs mounts. None
of these boot QEMU: each run stops before the write.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import subprocess

import pytest

from labkit import CHIP_SIZE, EXIT
from test_lab_refusals import assert_nothing_written, cached

VICTIM = b"someone else's file\n"


def assert_error(run, board, images, *fragments: str) -> dict:
    """ERROR (exit 1): one line naming the path and the reason, no traceback."""
    assert run.returncode == EXIT["ERROR"], run.stderr
    assert run.stderr.startswith("warmboot-lab: ERROR: ")
    assert len(run.stderr.strip().splitlines()) == 1, run.stderr
    assert "internal error" not in run.stderr and "Traceback" not in run.stderr
    for fragment in fragments:
        assert fragment in run.stderr, run.stderr
    assert board.chip.read_bytes() == images.old
    assert not (run.run_dir / "traceback.txt").exists()
    return run.record if (run.run_dir / "result.json").exists() else {}


@contextlib.contextmanager
def tmpfs(path, *options: str):
    """A small file system at `path` (created), unmounted afterwards."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    path.mkdir(parents=True, exist_ok=True)
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", ",".join(("mode=0755", *options)), "tmpfs", str(path)],
        capture_output=True,
        text=True,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


def fill(directory) -> None:
    """Fill the file system of `directory` to the last byte."""
    with open(directory / "filler", "wb", buffering=0) as handle, contextlib.suppress(OSError):
        while True:
            handle.write(b"\0" * 4096)


# -- links and modes (item 5) ------------------------------------------------------


def test_lock_file_that_is_a_symlink_is_not_followed(board, images, releases, tmp_path):
    victim = tmp_path / "victim"
    victim.write_bytes(VICTIM)
    (board.home / "locks").mkdir()
    (board.home / "locks" / "q35.lock").symlink_to(victim)
    run = board.flash(releases.server.release_url("1.1.0"))
    record = assert_error(run, board, images, "q35.lock", "symbolic link")
    assert victim.read_bytes() == VICTIM
    assert record["outcome"] == "ERROR" and record["commands"] == []


@pytest.mark.parametrize("directory", ["locks", "runs", "cache"])
def test_directory_other_users_can_write_to_is_refused(board, images, releases, directory):
    shared = board.home / directory
    shared.mkdir()
    shared.chmod(0o777)
    run = board.flash(releases.server.release_url("1.1.0"))
    record = assert_error(run, board, images, str(shared), "is writable by other users (mode 0777)")
    assert not [c for c in record["commands"] if c["label"].startswith("read")]


def test_run_directory_with_a_planted_link_is_refused(board, images, releases, tmp_path):
    """A link named backup.rom would have flashrom -r write the chip over its target."""
    victim = tmp_path / "victim"
    victim.write_bytes(VICTIM)
    run_dir = board.home / "planted"
    run_dir.mkdir()
    (run_dir / "backup.rom").symlink_to(victim)
    run = board.flash(
        releases.server.release_url("1.1.0"),
        config=board.config(flashrom="unstable-reads"),
        run_dir=run_dir,
    )
    assert_error(run, board, images, str(run_dir), "is not empty")
    assert victim.read_bytes() == VICTIM


def test_cache_entry_that_is_a_link_is_not_followed(board, images, releases, tmp_path):
    """A link in the cache to a file elsewhere, even one with the right bytes, is no hit."""
    outside = tmp_path / "outside.rom"
    outside.write_bytes(images.new)
    blobs = board.home / "cache" / "sha256"
    blobs.mkdir(parents=True)
    (blobs / hashlib.sha256(images.new).hexdigest()).symlink_to(outside)
    other_chip = board.home / "other-chip.bin"
    other_chip.write_bytes(b"\xff" * CHIP_SIZE)
    config = board.config(programmer=f"dummy:emulate=S25FL128L,image={other_chip}")
    run = board.flash(releases.server.release_url("1.1.0"), config=config)
    record = assert_nothing_written(run, board, images)  # refused at the probe
    rom = next(f for f in run.step("download")["detail"]["files"] if f["name"] == "coreboot.rom")
    assert rom["from_cache"] is False
    assert outside.read_bytes() == images.new
    entry = blobs / hashlib.sha256(images.new).hexdigest()
    assert not entry.is_symlink() and entry.read_bytes() == images.new
    assert record["failed_step"] == "probe"


# -- disk errors (item 6) ----------------------------------------------------------


def test_read_only_cache_is_an_error_naming_it(board, images, releases):
    with tmpfs(board.home / "cache", "size=64k", "ro"):
        run = board.flash(releases.server.release_url("1.1.0"))
        record = assert_error(
            run, board, images, str(board.home / "cache"), "Read-only file system"
        )
    assert record["outcome"] == "ERROR" and record["error_type"] == "StorageError"
    assert record["failed_step"] == "download" and record["write_started"] is False


def test_full_cache_is_an_error_and_keeps_no_partial_download(board, images, releases):
    with tmpfs(board.home / "cache", "size=64k"):
        run = board.flash(releases.server.release_url("1.1.0"))
        record = assert_error(
            run, board, images, str(board.home / "cache" / "sha256"), "No space left on device"
        )
        assert cached(board, images.new) == []
    assert record["outcome"] == "ERROR" and record["failed_step"] == "download"


def test_full_run_directory_ends_as_an_error_the_record_shows(board, images, releases):
    run_dir = board.home / "run"
    with tmpfs(run_dir, "size=64k"):
        run = board.flash(releases.server.release_url("1.1.0"), run_dir=run_dir)
        record = assert_error(
            run, board, images, str(run_dir / "release"), "No space left on device"
        )
        # The 16 MiB image did not fit; nothing of it stays, so the record could say so.
        assert record["outcome"] == "ERROR" and record["exit_code"] == 1
        assert record["failed_step"] == "download"
        assert not (run_dir / "release" / "coreboot.rom").exists()
        assert f"(record {run_dir / 'result.json'})" in run.stderr


def test_run_directory_too_full_for_the_record_says_so_on_stderr(board, images, releases):
    run_dir = board.home / "run"
    with tmpfs(run_dir, "size=64k"):
        fill(run_dir)
        run = board.flash(releases.server.release_url("1.1.0"), run_dir=run_dir / "sub")
        assert_error(run, board, images, str(run_dir / "sub"), "No space left on device")
        assert f"the record {run_dir / 'sub' / 'result.json'} could not be written" in run.stderr


def test_journal_that_cannot_be_written_stops_the_run_before_the_write(board, images, releases):
    """A write that could not be remembered (a crash would go unnoticed) never starts."""
    runs = board.home / "runs"
    with tmpfs(runs, "size=64k"):
        (runs / "q35").mkdir()
        fill(runs)
        run = board.flash(releases.server.release_url("1.1.0"))
        record = assert_error(
            run, board, images, str(runs / "q35" / "place.json"), "No space left on device"
        )
    assert record["failed_step"] is None and record["write_started"] is False
    assert record["backup"] is not None  # it got that far, and stopped there
    assert not [c for c in record["commands"] if "-w" in c["argv"]]


# -- smaller items (item 7) --------------------------------------------------------


def test_redirect_to_another_host_is_refused_by_default(board, images, releases):
    target = "/dist/qemu-q35/1.1.0/release.json"
    before = len(releases.server.fetched(target))
    run = board.flash(releases.server.release_url("1.1.0", tree="redirect"))
    record = assert_nothing_written(run, board, images)
    assert record["failed_step"] == "download" and record["error_type"] == "DownloadError"
    assert "redirects to another host (http://localhost:" in record["message"]
    assert "allow_cross_host_redirects = true" in record["message"]
    assert len(releases.server.fetched(target)) == before  # not followed
    assert record["commands"] == []


@pytest.mark.parametrize(
    "tree, setting, host",
    [
        ("redirect", "allow_cross_host_redirects = true", "localhost"),
        ("redirect-same", "", "127.0.0.1"),
    ],
)
def test_followed_redirects_are_recorded_with_each_final_url(
    board, images, releases, tree, setting, host
):
    other_chip = board.home / "other-chip.bin"
    other_chip.write_bytes(b"\xff" * CHIP_SIZE)
    config = board.config(
        programmer=f"dummy:emulate=S25FL128L,image={other_chip}", lab_extra=setting
    )
    url = releases.server.release_url("1.1.0", tree=tree)
    run = board.flash(url, config=config)
    record = assert_nothing_written(run, board, images)  # refused at the probe
    assert record["failed_step"] == "probe"
    detail = run.step("download")["detail"]
    port = releases.server.url.rsplit(":", 1)[1]
    final = {f["name"]: f["final_url"] for f in detail["files"]}
    assert final["release.json"] == f"http://{host}:{port}/dist/qemu-q35/1.1.0/release.json"
    assert final["coreboot.rom"] == f"http://{host}:{port}/dist/qemu-q35/1.1.0/coreboot.rom"
    assert {"from": url + "coreboot.rom", "to": final["coreboot.rom"]} in detail["redirects"]


def test_short_backup_read_is_refused_and_deleted(board, images, releases):
    run = board.flash(
        releases.server.release_url("1.1.0"), config=board.config(flashrom="short-reads")
    )
    record = assert_nothing_written(run, board, images)
    assert record["failed_step"] == "backup" and record["error_type"] == "BackupError"
    assert "flashrom read 8388608 bytes, not the chip's 16 MiB" in record["message"]
    assert record["backup"] is None
    assert not (run.run_dir / "backup.rom").exists()
    assert not (run.run_dir / "backup-reread.rom").exists()
