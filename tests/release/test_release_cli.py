"""The real `warmboot` command, run as a subprocess: exit statuses and messages."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from hostile import IDENTITY, ed25519_pem, root_payload_listing
from warmboot.cli import main as cli_main
from warmboot.release import (
    ROOT_PAYLOAD_TYPE,
    Envelope,
    add_signatures,
    encode_envelope,
    load_signer,
)
from warmboot.release.errors import EXIT_MISMATCH, EXIT_ROLLBACK, EXIT_UNTRUSTED, EXIT_WRONG_BOARD


def warmboot(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [sys.executable, "-m", "warmboot.cli", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert "Traceback" not in result.stderr
    return result


def ok(cwd: Path, *args: str) -> str:
    result = warmboot(cwd, *args)
    assert result.returncode == 0, result.stderr
    return result.stdout


@pytest.fixture(scope="module")
def signing_setup(tmp_path_factory) -> Path:
    """Keys and a signed root made with the CLI, as an operator would."""
    work = tmp_path_factory.mktemp("cli")
    for name in ("root1", "root2", "rel1", "rel2"):
        ok(work, "keys", "generate", name)
    ok(
        work,
        "root",
        "create",
        "--out",
        "root.json",
        "--root-key",
        "root1.pub",
        "--root-key",
        "root2.pub",
        "--root-threshold",
        "2",
        "--release-key",
        "rel1.pub",
        "--release-key",
        "rel2.pub",
        "--release-threshold",
        "2",
    )
    ok(work, "root", "sign", "root.json", "--key", "root1.key", "--key", "root2.key")
    (work / "manifest.json").write_text('{"sources": {}}\n')
    return work


def create(work: Path, rom: Path, version: str, *extra: str) -> Path:
    ok(
        work,
        "release",
        "create",
        "--board",
        "qemu-q35",
        "--version",
        version,
        "--security-version",
        "1",
        "--rom",
        str(rom),
        "--manifest",
        "manifest.json",
        "--key",
        "rel1.key",
        "--key",
        "rel2.key",
        "--root",
        "root.json",
        "--dist",
        "dist",
        *extra,
    )
    return work / "dist" / "qemu-q35" / version


@pytest.fixture
def small_rom(signing_setup, make_rom) -> Path:
    path = signing_setup / "small.rom"
    path.write_bytes(make_rom())
    return path


def test_cli_generated_private_key_is_0600_and_never_overwritten(signing_setup):
    assert stat.S_IMODE(os.stat(signing_setup / "rel1.key").st_mode) == 0o600
    result = warmboot(signing_setup, "keys", "generate", "rel1")
    assert result.returncode == 1
    assert result.stderr == "warmboot: error: rel1.key already exists; refusing to overwrite it\n"


def test_cli_happy_path_on_the_real_coreboot_rom(signing_setup, real_rom):
    release_dir = create(signing_setup, real_rom, "1.0.0")
    assert sorted(p.name for p in release_dir.iterdir()) == [
        "coreboot.rom",
        "manifest.json",
        "release.json",
        "roots",
    ]
    out = ok(
        signing_setup,
        "verify",
        "--root",
        "root.json",
        "--board",
        "qemu-q35",
        "--state",
        "state.json",
        "--commit-state",
        str(release_dir),
    )
    assert out.startswith("OK qemu-q35 1.0.0 (security_version 1)")
    assert "signed by 2 release key(s) of root version 1" in out
    state = json.loads((signing_setup / "state.json").read_text())
    assert state["boards"]["qemu-q35"] == {"version": "1.0.0", "security_version": 1}
    shown = ok(signing_setup, "release", "show", str(release_dir))
    assert "COREBOOT                 0x00800200 0x007ffe00" in shown


def test_cli_rejects_a_tampered_image_with_status_14(signing_setup, small_rom):
    release_dir = create(signing_setup, small_rom, "2.0.0")
    rom = release_dir / "coreboot.rom"
    data = bytearray(rom.read_bytes())
    data[100] ^= 0xFF
    rom.write_bytes(bytes(data))
    result = warmboot(
        signing_setup, "verify", "--root", "root.json", "--board", "qemu-q35", str(release_dir)
    )
    assert result.returncode == EXIT_MISMATCH
    assert "coreboot.rom does not match the signed sha256" in result.stderr
    assert result.stdout == ""


def test_cli_rejects_another_board_with_status_13(signing_setup, small_rom):
    release_dir = create(signing_setup, small_rom, "3.0.0")
    result = warmboot(
        signing_setup, "verify", "--root", "root.json", "--board", "qemu-i440fx", str(release_dir)
    )
    assert result.returncode == EXIT_WRONG_BOARD
    assert "is for board 'qemu-q35', not 'qemu-i440fx'" in result.stderr


def test_cli_rejects_a_rollback_with_status_12(signing_setup, small_rom):
    newer, older = (
        create(signing_setup, small_rom, "5.0.0"),
        create(signing_setup, small_rom, "4.0.0"),
    )
    state = signing_setup / "rollback-state.json"
    ok(
        signing_setup,
        "verify",
        "--root",
        "root.json",
        "--board",
        "qemu-q35",
        "--state",
        str(state),
        "--commit-state",
        str(newer),
    )
    result = warmboot(
        signing_setup,
        "verify",
        "--root",
        "root.json",
        "--board",
        "qemu-q35",
        "--state",
        str(state),
        str(older),
    )
    assert result.returncode == EXIT_ROLLBACK
    assert "older than version 5.0.0" in result.stderr


def test_cli_rejects_a_release_below_threshold_until_co_signed(signing_setup, small_rom):
    ok(
        signing_setup,
        "release",
        "create",
        "--board",
        "qemu-q35",
        "--version",
        "6.0.0",
        "--security-version",
        "1",
        "--rom",
        str(small_rom),
        "--manifest",
        "manifest.json",
        "--key",
        "rel1.key",
        "--root",
        "root.json",
        "--dist",
        "dist",
    )
    release_dir = signing_setup / "dist" / "qemu-q35" / "6.0.0"
    verify = ("verify", "--root", "root.json", "--board", "qemu-q35", str(release_dir))
    result = warmboot(signing_setup, *verify)
    assert result.returncode == EXIT_UNTRUSTED
    assert "signed by 1 of the 2 required release keys" in result.stderr
    ok(signing_setup, "release", "sign", str(release_dir), "--key", "rel2.key")
    assert ok(signing_setup, *verify).startswith("OK qemu-q35 6.0.0")


def test_cli_refuses_to_rewrite_a_published_release(signing_setup, small_rom):
    create(signing_setup, small_rom, "7.0.0")
    result = warmboot(
        signing_setup,
        "release",
        "create",
        "--board",
        "qemu-q35",
        "--version",
        "7.0.0",
        "--security-version",
        "1",
        "--rom",
        str(small_rom),
        "--manifest",
        "manifest.json",
        "--key",
        "rel1.key",
        "--dist",
        "dist",
    )
    assert result.returncode == 1
    assert "release.json already exists; a published release is never rewritten" in result.stderr


# --- weak keys (issue 16) ---------------------------------------------------------


def write_identity_key(work: Path) -> Path:
    """An Ed25519 public key file holding the identity point 01 00..00."""
    path = work / "identity.pub"
    path.write_bytes(ed25519_pem(IDENTITY))
    return path


def test_cli_keys_show_refuses_a_small_order_ed25519_key(signing_setup):
    write_identity_key(signing_setup)
    result = warmboot(signing_setup, "keys", "show", "identity.pub")
    assert result.returncode == 1
    assert result.stderr.startswith("warmboot: error: identity.pub: refusing the ed25519 ")
    assert "small-order" in result.stderr and result.stderr.count("\n") == 1


def test_cli_root_create_refuses_a_small_order_release_key_and_writes_nothing(signing_setup):
    write_identity_key(signing_setup)
    result = warmboot(
        signing_setup,
        "root",
        "create",
        "--out",
        "weak-root.json",
        "--root-key",
        "root1.pub",
        "--root-threshold",
        "1",
        "--release-key",
        "identity.pub",
        "--release-threshold",
        "1",
    )
    assert result.returncode == 1
    assert "identity.pub: refusing the ed25519 public key: a small-order" in result.stderr
    assert not (signing_setup / "weak-root.json").exists()


def test_cli_verify_refuses_a_root_that_lists_a_small_order_key(signing_setup, small_rom):
    root_keys = [load_signer(signing_setup / f"root{i}.key") for i in (1, 2)]
    payload = root_payload_listing([k.public_key for k in root_keys], IDENTITY)
    (signing_setup / "weak-root-signed.json").write_bytes(
        encode_envelope(add_signatures(Envelope(ROOT_PAYLOAD_TYPE, payload), root_keys))
    )
    release_dir = create(signing_setup, small_rom, "8.0.0")
    result = warmboot(
        signing_setup,
        "verify",
        "--root",
        "weak-root-signed.json",
        "--board",
        "qemu-q35",
        str(release_dir),
    )
    assert result.returncode == 1
    assert "is not a usable public key: a small-order Ed25519 point" in result.stderr
    assert result.stdout == ""


# --- numeric options (issue 16) ------------------------------------------------------

ROOT_CREATE = (
    "root",
    "create",
    "--out",
    "new-root.json",
    "--root-key",
    "root1.pub",
    "--root-key",
    "root2.pub",
    "--release-key",
    "rel1.pub",
)


def release_create(rom: Path) -> tuple[str, ...]:
    return (
        "release",
        "create",
        "--board",
        "qemu-q35",
        "--version",
        "9.0.0",
        "--rom",
        str(rom),
        "--manifest",
        "manifest.json",
        "--key",
        "rel1.key",
        "--root",
        "root.json",
        "--dist",
        "options-dist",
    )


def test_cli_expires_in_days_beyond_the_calendar_is_one_error_line(signing_setup, small_rom):
    for command in (
        (*ROOT_CREATE, "--root-threshold", "2", "--release-threshold", "1"),
        (*release_create(small_rom), "--security-version", "1"),
    ):
        result = warmboot(signing_setup, *command, "--expires-in-days", "99999999")
        assert (result.returncode, result.stderr) == (
            1,
            ("warmboot: error: --expires-in-days must be between 1 and 36500, not 99999999\n"),
        )
    assert not (signing_setup / "new-root.json").exists()
    assert not (signing_setup / "options-dist").exists()


ROOT_OPTIONS = {
    "--version": "1",
    "--root-threshold": "2",
    "--release-threshold": "1",
    "--expires-in-days": "365",
}
BAD_ROOT_OPTIONS = [
    ("--expires-in-days", "0", "must be between 1 and 36500, not 0"),
    ("--expires-in-days", "-3", "must be between 1 and 36500, not -3"),
    ("--version", "0", "must be between 1 and 18446744073709551615, not 0"),
    ("--version", "1" + "0" * 25, "must be between 1 and 18446744073709551615"),
    ("--version", "1" + "0" * 5000, "must be between 1 and 18446744073709551615"),
    ("--version", "\u0663", "must be a decimal integer, not '\u0663'"),
    ("--version", "1_0", "must be a decimal integer, not '1_0'"),
    ("--root-threshold", "3", "must be between 1 and 2, not 3"),
    ("--root-threshold", "x", "must be a decimal integer, not 'x'"),
    ("--release-threshold", "0", "must be 1, not 0"),
]


def run_main(cwd: Path, monkeypatch, capsys, *args: str) -> tuple[int, str]:
    """`warmboot ARGS` in this process (fast): exit status and stderr."""
    monkeypatch.chdir(cwd)
    status = cli_main(list(args))
    captured = capsys.readouterr()
    return status, captured.err


@pytest.mark.parametrize("option, value, problem", BAD_ROOT_OPTIONS)
def test_cli_root_create_range_checks_every_numeric_option(
    signing_setup, monkeypatch, capsys, option, value, problem
):
    options = {**ROOT_OPTIONS, option: value}
    status, err = run_main(
        signing_setup,
        monkeypatch,
        capsys,
        *ROOT_CREATE,
        *(word for pair in options.items() for word in pair),
    )
    assert status == 1
    assert err.startswith(f"warmboot: error: {option} {problem}") and err.count("\n") == 1
    assert not (signing_setup / "new-root.json").exists()


@pytest.mark.parametrize(
    "option, value, problem",
    [
        ("--security-version", "-1", "must be between 0 and 4294967295, not -1"),
        ("--security-version", "4294967296", "must be between 0 and 4294967295, not 4294967296"),
        ("--security-version", "true", "must be a decimal integer, not 'true'"),
        ("--expires-in-days", "36501", "must be between 1 and 36500, not 36501"),
    ],
)
def test_cli_release_create_range_checks_every_numeric_option(
    signing_setup, small_rom, monkeypatch, capsys, option, value, problem
):
    options = {"--security-version": "1", option: value}
    status, err = run_main(
        signing_setup,
        monkeypatch,
        capsys,
        *release_create(small_rom),
        *(word for pair in options.items() for word in pair),
    )
    assert status == 1
    assert err == f"warmboot: error: {option} {problem}\n"
    assert not (signing_setup / "options-dist").exists()


@pytest.mark.parametrize(
    "value, problem",
    [
        ("0", "must be between 1 and 268435456, not 0"),
        ("-65536", "must be between 1 and 268435456, not -65536"),
        ("1" + "0" * 30, "must be between 1 and 268435456"),
    ],
)
def test_cli_verify_range_checks_the_flash_size(
    signing_setup, small_rom, monkeypatch, capsys, value, problem
):
    release_dir = signing_setup / "dist" / "qemu-q35" / "10.0.0"
    if not release_dir.exists():  # signing_setup is shared by the module's tests
        create(signing_setup, small_rom, "10.0.0")
    status, err = run_main(
        signing_setup,
        monkeypatch,
        capsys,
        "verify",
        "--root",
        "root.json",
        "--board",
        "qemu-q35",
        "--flash-size",
        value,
        str(release_dir),
    )
    assert status == 1
    assert err.startswith(f"warmboot: error: --flash-size {problem}") and err.count("\n") == 1
