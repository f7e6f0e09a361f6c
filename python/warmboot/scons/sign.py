"""SCons tool: `scons board=<b> release version=… security_version=…` signs a
release of the board's image into dist/<board>/<version>/ (docs/releases.md).

The image must carry the release root (release_root=), so the root that
verifies the release is also inside the firmware it ships.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from SCons.Action import Action

from warmboot.release import create_release, load_signer, release_directory
from warmboot.scons.common import scons_step, tool
from warmboot.steps.run import StepError, say


@scons_step
def _create(target, source, env):
    r = env["WB_RELEASE"]
    board = env["WB_BOARD_OBJ"]
    rom, manifest = Path(str(source[0])), Path(str(source[1]))
    expires = datetime.now(UTC) + timedelta(days=r["expires_days"])
    signers = [load_signer(Path(k)) for k in r["keys"]]
    created = create_release(
        Path(r["dir"]),
        rom=rom,
        manifest=manifest,
        board=board.name,
        version=r["version"],
        security_version=r["security_version"],
        expires=expires.replace(microsecond=0),
        signers=signers,
        root_chain=[Path(p) for p in r["roots"]],
    )
    say(
        "release",
        f"{created.release_dir}: version {r['version']}, security_version "
        f"{r['security_version']}, signed by {len(created.signed_by)} key(s)"
        + (
            ""
            if created.threshold_met
            else "; below the root's threshold: co-sign with `warmboot release sign`"
        ),
    )
    return 0


def release(
    env,
    board,
    rom,
    manifest,
    *,
    version: str,
    security_version: str,
    keys: str,
    roots: list[str],
    dist: str,
    expires_days: str,
):
    """Alias `release`: dist/<board>/<version>/ with the ROM, manifest and envelope."""
    if not version or not security_version or not keys or not roots:
        raise StepError(
            "a release needs version=MAJOR.MINOR.PATCH, security_version=N, "
            "keys=KEY[,KEY...] and release_root=ROOT.json[,NEWER.json...]"
        )
    try:
        sv = int(security_version)
        days = int(expires_days)
    except ValueError:
        raise StepError("security_version and expires_days must be integers") from None
    out = release_directory(Path(dist), board.name, version)
    key_paths = [str(Path(k).resolve()) for k in keys.split(",")]
    root_paths = [str(Path(p).resolve()) for p in roots]
    spec = {
        "version": version,
        "security_version": sv,
        "expires_days": days,
        "keys": key_paths,
        "roots": root_paths,
        "dir": str(out.resolve()),
    }
    for path in key_paths + root_paths:
        if not Path(path).is_file():
            raise StepError(f"release: {path} does not exist")
    envelope = env.Command(
        str(out / "release.json"),
        [rom, manifest, env.Value(json.dumps(spec, sort_keys=True))],
        Action(_create, f"[release] signing {board.name} {version}"),
        WB_RELEASE=spec,
    )
    env.NoCache(envelope)
    env.Precious(envelope)  # a published release is never deleted to be rebuilt
    return env.Alias("release", envelope)


@tool()
def generate(env):
    env.AddMethod(release, "Release")
