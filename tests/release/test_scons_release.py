"""`scons board=qemu-q35 release ...` signs a release of the board's image,
with the release root embedded in its CBFS, which `warmboot verify` accepts;
a second release of the same version is refused."""

import subprocess
import sys

from wbtest import copy_checkout, run_scons


def warmboot(*args, cwd=None):
    return subprocess.run(
        [sys.executable, "-m", "warmboot.cli", *map(str, args)],
        cwd=cwd,
        capture_output=True,
        text=True,
    )


def test_scons_release_is_signed_embeds_its_root_and_verifies(q35, tmp_path):
    keys = tmp_path / "keys"
    keys.mkdir()
    for name in ("root", "release"):
        assert warmboot("keys", "generate", keys / name).returncode == 0
    root = tmp_path / "root.json"
    made = warmboot(
        "root",
        "create",
        "--out",
        root,
        "--root-key",
        keys / "root.pub",
        "--root-threshold",
        1,
        "--release-key",
        keys / "release.pub",
        "--release-threshold",
        1,
    )
    assert made.returncode == 0, made.stderr
    assert warmboot("root", "sign", "--key", keys / "root.key", root).returncode == 0

    checkout = copy_checkout(tmp_path / "checkout")
    dist = tmp_path / "dist"
    args = [
        "board=qemu-q35",
        "release",
        "version=1.0.0",
        "security_version=1",
        f"keys={keys / 'release.key'}",
        f"release_root={root}",
        f"dist={dist}",
    ]
    result = run_scons(args, cwd=checkout)
    assert result.returncode == 0, result.output[-3000:]
    release = dist / "qemu-q35" / "1.0.0"
    assert sorted(p.name for p in release.iterdir()) >= [
        "coreboot.rom",
        "manifest.json",
        "release.json",
    ]

    verified = warmboot("verify", "--root", root, "--board", "qemu-q35", release)
    assert verified.returncode == 0, verified.stdout + verified.stderr

    # The image carries the root it was released under.
    embedded = tmp_path / "embedded.json"
    subprocess.run(
        [
            str(checkout / "build/qemu-q35/coreboot/cbfstool"),
            str(release / "coreboot.rom"),
            "extract",
            "-n",
            "warmboot/release-root.json",
            "-f",
            str(embedded),
        ],
        check=True,
        capture_output=True,
    )
    assert embedded.read_bytes() == root.read_bytes()

    # The release names its board: another board refuses it.
    assert warmboot("verify", "--root", root, "--board", "qemu-q99", release).returncode != 0

    # A published release is never overwritten.
    again = run_scons([*args, "security_version=2"], cwd=checkout)
    assert again.returncode != 0
    assert "release.json" in again.output and "exists" in again.output
