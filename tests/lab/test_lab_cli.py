"""warmboot-lab as a program: places, console, and errors as one line with an exit status."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading

from labkit import place_toml
from warmboot.lab.lock import hold_place_lock


def write_config(tmp_path, port: int = 7003):
    path = tmp_path / "lab.toml"
    path.write_text(
        '[lab]\nlocks = "locks"\n'
        + place_toml(
            "bench-1",
            programmer="ch341a_spi",
            chip="W25Q128.V",
            size=16 << 20,
            console=f'tcp = "127.0.0.1:{port}"',
        )
        + place_toml(
            "bench-2",
            programmer="dummy:emulate=MX25L6436",
            chip="MX25L6406E/MX25L6408E",
            size=8 << 20,
            console='device = "/dev/ttyUSB0"',
        )
    )
    return path


def lab(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "warmboot.lab.cli", *args],
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_places_lists_each_place_its_chip_console_and_lock_state(tmp_path):
    config = write_config(tmp_path)
    with hold_place_lock(tmp_path / "locks", "bench-2", f"run {tmp_path / 'some-run'}"):
        table = lab("places", "--config", str(config))
        listing = json.loads(lab("places", "--config", str(config), "--json").stdout)
    assert table.returncode == 0, table.stderr
    lines = table.stdout.splitlines()
    assert lines[0].split() == ["PLACE", "BOARD", "CHIP", "SIZE", "CONSOLE", "STATE"]
    assert lines[1].split()[:6] == [
        "bench-1",
        "qemu-q35",
        "W25Q128.V",
        "16",
        "MiB",
        "tcp:127.0.0.1:7003",
    ]
    assert lines[1].endswith("free")
    assert "busy: pid" in lines[2] and str(tmp_path / "some-run") in lines[2]
    assert [p["name"] for p in listing] == ["bench-1", "bench-2"]
    assert listing[0]["locked_by"] is None and listing[1]["size"] == 8 << 20


def test_configuration_error_is_one_line_exit_1_and_still_a_record(tmp_path):
    config = write_config(tmp_path)
    config.write_text(config.read_text().replace("size = 16777216", "size = 3"))
    run_dir = tmp_path / "run"
    result = lab(
        "flash",
        "--config",
        str(config),
        "--place",
        "bench-1",
        "--release",
        "http://127.0.0.1:9/x/",
        "--root",
        str(tmp_path / "root.json"),
        "--run-dir",
        str(run_dir),
    )
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert result.stderr.startswith(
        f"warmboot-lab: ERROR: {config}: place 'bench-1' "
        "[flashrom]: size: flash sizes are positive multiples "
        "of 4 KiB"
    )
    record = json.loads((run_dir / "result.json").read_text())
    assert record["outcome"] == "ERROR" and record["exit_code"] == 1
    assert record["error_type"] == "ConfigError"


def test_missing_trusted_root_is_an_error_before_anything_runs(tmp_path):
    config = write_config(tmp_path)
    result = lab(
        "flash",
        "--config",
        str(config),
        "--place",
        "bench-1",
        "--release",
        "http://127.0.0.1:9/x/",
        "--run-dir",
        str(tmp_path / "run"),
    )
    assert result.returncode == 1
    assert result.stderr == (
        "warmboot-lab: ERROR: no trusted release root: pass --root or set "
        f"root in [lab] (record {tmp_path / 'run' / 'result.json'})\n"
    )


def test_console_prints_the_board_output_until_the_pattern(tmp_path):
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)

    def board() -> None:
        client, _ = server.accept()
        with client:
            client.sendall(b"coreboot-4.15 x bootblock starting\r\nwarmboot: linuxboot ready\r\n")
            client.recv(1)

    threading.Thread(target=board, daemon=True).start()
    config = write_config(tmp_path, server.getsockname()[1])
    result = lab(
        "console",
        "--config",
        str(config),
        "--place",
        "bench-1",
        "--until",
        "linuxboot ready",
        "--timeout",
        "20",
        "--log",
        str(tmp_path / "console.log"),
    )
    server.close()
    assert result.returncode == 0, result.stderr
    assert "bootblock starting" in result.stdout
    assert (tmp_path / "console.log").read_bytes().endswith(b"linuxboot ready\r\n")
