"""warmboot-lab on labgrid: a real labgrid-coordinator and labgrid-exporter on
127.0.0.1 exporting two places, each a QEMU q35 board whose flash is flashrom's
dummy programmer and whose serial is a TCP socket (labgrid_lab.py).

The lab is started once for the module; each test leaves both places released
and both chips holding the old image (release 1.0.0), as it found them.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import time

import pytest

from labgrid_lab import labgrid_lab
from labkit import EXIT, LabRun

pytestmark = pytest.mark.qemu


@pytest.fixture(scope="module")
def lab(tmp_path_factory, releases, images):
    with labgrid_lab(tmp_path_factory.mktemp("labgrid"), releases, images.old) as started:
        yield started


@pytest.fixture
def fresh(lab, images):
    """Both chips hold the old image again after the test, whatever it did."""
    yield lab
    for board in lab.boards.values():
        board.power_off()
        board.chip.write_bytes(images.old)


def run(lab, place, url, run_dir, config, *extra, timeout=300) -> LabRun:
    proc = subprocess.run(
        lab.flash_command(place, url, run_dir, config, *extra),
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    return LabRun(proc.returncode, proc.stdout, proc.stderr, run_dir)


def interval(record: dict, name: str) -> tuple[float, float]:
    step = next(s for s in record["steps"] if s["name"] == name)
    started = (
        time.mktime(time.strptime(step["started"][:19], "%Y-%m-%dT%H:%M:%S"))
        + int(step["started"][20:23]) / 1000
    )
    return started, started + step["seconds"]


def test_two_places_flash_at_the_same_time_and_both_succeed(fresh, releases, images, tmp_path):
    lab = fresh
    config = lab.config()
    url = releases.server.release_url("1.1.0")
    procs = {
        place: subprocess.Popen(
            lab.flash_command(place, url, tmp_path / place, config),
            text=True,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for place in lab.boards
    }
    records = {}
    for place, proc in procs.items():
        _stdout, stderr = proc.communicate(timeout=300)
        assert proc.returncode == EXIT["OK"], stderr
        records[place] = json.loads((tmp_path / place / "result.json").read_text())
        assert lab.boards[place].chip.read_bytes() == images.new
    # They ran side by side: each one's write-to-boot span overlaps the other's.
    a, b = (records[place] for place in lab.boards)
    a_start, _ = interval(a, "probe")
    _, a_end = interval(a, "boot-check")
    b_start, _ = interval(b, "probe")
    _, b_end = interval(b, "boot-check")
    assert a_start < b_end and b_start < a_end
    for place, record in records.items():
        board = lab.boards[place]
        labgrid = record["labgrid"]
        assert labgrid["coordinator"] == lab.coordinator and labgrid["place"] == place
        assert labgrid["acquired"] and labgrid["released"] and not labgrid["release_error"]
        assert labgrid["used"] == {
            "flashrom": f"lab1/{place}/NetworkFlashrom/NetworkFlashrom",
            "serial": f"lab1/{place}/NetworkSerialPort/NetworkSerialPort",
            "power": f"lab1/{place}/NetworkPowerPort/NetworkPowerPort",
        }
        classes = sorted(r["cls"] for r in labgrid["resources"])
        assert classes == ["NetworkFlashrom", "NetworkPowerPort", "NetworkSerialPort"]
        # The resources became the flow's programmer, console and power commands.
        write = next(c for c in record["commands"] if c["label"] == "write")
        assert board.programmer in write["argv"]
        boot = next(s for s in record["steps"] if s["name"] == "boot-check")
        assert boot["detail"]["console"] == f"tcp:127.0.0.1:{board.port}"
        power = [c["argv"] for c in record["commands"] if "power" in c["label"]]
        assert power and all(argv[-4:-2] == ["-p", place] or place in argv for argv in power)
        assert any(argv[argv.index("power") + 1] == "cycle" for argv in power)
        # Released: anyone may take the place now.
        assert lab.holder(place) is None
    assert not (lab.home / "runs" / "q35-a" / "labgrid.json").exists()


def test_place_another_client_holds_is_refused_busy_and_its_board_untouched(
    fresh, releases, images, tmp_path
):
    lab = fresh
    place = "q35-a"
    board = lab.boards[place]
    lab.client("-p", place, "acquire", user="alice")
    try:
        before = hashlib.sha256(board.chip.read_bytes()).hexdigest()
        switched = len(lab.power_log)
        result = run(
            lab, place, releases.server.release_url("1.1.0"), tmp_path / "run", lab.config()
        )
        assert result.returncode == EXIT["BUSY"], result.stderr
        assert result.stderr.startswith(
            f"warmboot-lab: BUSY: labgrid place {place} is acquired by "
        )
        assert "/alice" in result.stderr and "nothing was done" in result.stderr
        record = result.record
        assert record["outcome"] == "BUSY" and record["commands"] == []
        assert record["labgrid"]["acquired"] is None
        assert hashlib.sha256(board.chip.read_bytes()).hexdigest() == before
        assert len(lab.power_log) == switched  # never switched on or off
        assert lab.holder(place).endswith("/alice")  # still alice's
    finally:
        lab.client("-p", place, "release", user="alice")


def test_killed_run_leaves_the_place_acquired_until_released_then_recover(
    fresh, releases, images, tmp_path
):
    """SIGKILL mid-write (a host crash: warmboot-lab and flashrom die): the place stays
    acquired, as labgrid places do; the next run says which run held it and how to
    release it; once released, the half-written chip is refused until recover."""
    lab = fresh
    place = "q35-b"
    board = lab.boards[place]
    url = releases.server.release_url("1.1.0")
    crash_config = lab.config("crash.toml", flashrom={place: "crash-in-first-write"})
    first_dir = tmp_path / "run-1"
    first = subprocess.Popen(
        lab.flash_command(place, url, first_dir, crash_config),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    flashrom = int(board.wait_for_state("writing").read_text())
    first.send_signal(signal.SIGKILL)
    os.killpg(flashrom, signal.SIGKILL)
    first.wait(30)
    deadline = time.monotonic() + 30
    while (board.home / "fake-state" / "writing").exists() and subprocess.run(
        ["kill", "-0", str(flashrom)], capture_output=True
    ).returncode == 0:
        assert time.monotonic() < deadline
        time.sleep(0.1)
    half_written = board.chip.read_bytes()
    assert half_written != images.old

    config = lab.config()
    busy = run(lab, place, url, tmp_path / "run-2", config)
    assert busy.returncode == EXIT["BUSY"], busy.stderr
    message = busy.record["message"]
    assert f"by warmboot-lab run {first_dir}" in message and "during its write step" in message
    assert f"labgrid-client -x {lab.coordinator} -p {place} release" in message
    assert board.chip.read_bytes() == half_written

    # What a labgrid user does with a place a dead client left acquired.
    lab.client("-p", place, "release")
    refused = run(lab, place, url, tmp_path / "run-3", config)
    assert refused.returncode == EXIT["REFUSED"], refused.stderr
    assert refused.record["error_type"] == "UnfinishedWriteError"
    assert "warmboot-lab recover --place q35-b" in refused.record["message"]
    assert lab.holder(place) is None  # a refusal releases too

    recovered = subprocess.run(
        [
            *lab.flash_command(place, url, tmp_path / "run-4", config)[:3],
            "recover",
            "--config",
            str(config),
            "--place",
            place,
            "--run-dir",
            str(tmp_path / "run-4"),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert recovered.returncode == EXIT["OK"], recovered.stderr
    record = json.loads((tmp_path / "run-4" / "result.json").read_text())
    assert record["command"] == "recover" and record["labgrid"]["released"]
    assert board.chip.read_bytes() == images.old
    assert lab.holder(place) is None


def test_rollback_through_labgrid_restores_and_boots_the_old_image(
    fresh, releases, images, tmp_path
):
    lab = fresh
    place = "q35-a"
    config = lab.config("fail.toml", failures=("Payload not loaded",))
    result = run(lab, place, releases.server.release_url("1.2.0"), tmp_path / "run", config)
    assert result.returncode == EXIT["ROLLED_BACK"], result.stderr
    record = result.record
    assert record["failed_step"] == "boot-check"
    assert record["rollback"]["flash_restored"] and record["rollback"]["booted"]
    assert [s["name"] for s in record["steps"]][-4:] == [
        "rollback-power-off",
        "rollback-write",
        "rollback-verify",
        "rollback-boot-check",
    ]
    assert lab.boards[place].chip.read_bytes() == images.old
    assert "warmboot: linuxboot ready" in result.console_log("rollback-boot")
    assert record["labgrid"]["released"] and lab.holder(place) is None


def test_signal_mid_run_cancels_and_still_releases_the_place(fresh, releases, images, tmp_path):
    lab = fresh
    place = "q35-a"
    board = lab.boards[place]
    config = lab.config("slow.toml", flashrom={place: "slow-reads"})
    proc = subprocess.Popen(
        lab.flash_command(place, releases.server.release_url("1.1.0"), tmp_path / "run", config),
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    board.wait_for_state("reading")
    assert lab.holder(place) is not None  # held while it runs
    proc.send_signal(signal.SIGTERM)
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == EXIT["CANCELLED"], stderr
    record = json.loads((tmp_path / "run" / "result.json").read_text())
    assert record["interrupted_by"] == "SIGTERM" and not record["write_started"]
    assert record["labgrid"]["released"] and lab.holder(place) is None
    assert board.chip.read_bytes() == images.old
