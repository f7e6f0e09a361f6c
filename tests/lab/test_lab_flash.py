"""warmboot-lab flash on the QEMU board: the good path, and what a run leaves behind."""

from __future__ import annotations

import hashlib
import json

import pytest

from labkit import EXIT, MARKER

pytestmark = pytest.mark.qemu


def test_flash_writes_verifies_and_boots_the_release_and_records_ok(
    board, images, releases, tmp_path
):
    state = tmp_path / "rollback-state.json"
    run = board.flash(releases.server.release_url("1.1.0"), "--state", str(state))
    assert run.returncode == EXIT["OK"], run.stderr
    record = run.record
    print(
        f"flash-and-boot-check: {record['seconds']:.1f} s in all; "
        + ", ".join(f"{step['name']} {step['seconds']:.2f} s" for step in record["steps"])
    )

    assert board.chip.read_bytes() == images.new
    assert record["outcome"] == "OK" and record["exit_code"] == 0
    assert run.stdout.startswith("warmboot-lab: OK: ") and run.stderr == ""
    assert run.step_names() == [
        "trust",
        "download",
        "verify",
        "power-off",
        "probe",
        "backup",
        "write",
        "verify-flash",
        "boot-check",
        "commit-state",
    ]
    assert all(step["status"] == "ok" for step in record["steps"])
    assert record["release"]["version"] == "1.1.0"
    assert record["release"]["image_sha256"] == hashlib.sha256(images.new).hexdigest()
    assert record["chip"] == {
        "vendor": "Winbond",
        "name": "W25Q128.V",
        "size": 16 << 20,
        "bus": "SPI",
    }
    backup = record["backup"]
    assert backup["sha256"] == hashlib.sha256(images.old).hexdigest()
    assert (run.run_dir / "backup.rom").read_bytes() == images.old
    # The boot check saw coreboot's banner, then LinuxBoot's marker, on the real console.
    markers = run.step("boot-check")["detail"]["markers"]
    assert [m["name"] for m in markers] == ["coreboot", "linuxboot"]
    assert "bootblock starting" in markers[0]["line"]
    console = run.console_log("boot")
    assert console.index("bootblock starting") < console.index(MARKER)
    # flashrom ran as documented: probe without -c, then -c for the rest; write from stdin.
    argvs = {command["label"]: command["argv"] for command in record["commands"]}
    assert "-c" not in argvs["probe"]
    assert argvs["write"][-4:] == ["-c", "W25Q128.V", "-w", "-"]
    assert argvs["verify-flash"][-2:] == ["-v", "-"]
    # Only a booted release advances the rollback state.
    accepted = json.loads(state.read_text())["boards"]["qemu-q35"]
    assert accepted == {"version": "1.1.0", "security_version": 1}
