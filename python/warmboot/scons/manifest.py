"""SCons tool: the JSON build manifest, listing every input's hash, every
tool's version, the configurations and the outputs of a board's build."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from SCons.Action import Action

from warmboot.scons import sources
from warmboot.scons.common import scons_step, tool

MANIFEST_FORMAT = "warmboot-build-manifest/1"


def sha256_of(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


@scons_step
def _write_manifest(target, source, env):
    out = Path(str(target[0]))
    info = json.loads(source[-1].get_contents())
    outputs = {}
    for node, label in zip(source[:-1], info["output_labels"], strict=True):
        path = Path(str(node))
        outputs[label] = {
            "path": os.path.relpath(path, env.Dir("#").abspath),
            "sha256": sha256_of(path),
            "size": path.stat().st_size,
        }
    inputs = {}
    for name in info["sources"]:
        tree = env.SourceTree(name)
        inputs[name] = tree.describe()
    manifest = {
        "format": MANIFEST_FORMAT,
        "board": info["board"],
        "warmboot_commit": info["commit"],
        "inputs": inputs,
        "configs": info["configs"],
        "tools": info["tools"],
        "outputs": outputs,
    }
    tmp = out.with_name(f".{out.name}.tmp")
    tmp.write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    os.replace(tmp, out)
    return 0


def build_manifest(env, board, outputs: dict, sources: list[str], configs: dict):
    """outputs: label -> node; configs: label -> path of a config file (hashed)."""
    top = Path(env.Dir("#").abspath)
    config_hashes = {
        label: sha256_of(top / p) if (top / p).exists() else None for label, p in configs.items()
    }
    info = {
        "board": board.describe(),
        "commit": env["WB_COMMIT"],
        "sources": sources,
        "configs": config_hashes,
        "tools": env["WB_TOOL_VERSIONS"],
        "output_labels": list(outputs),
    }
    manifest = env.Command(
        "$WB_BUILD/manifest.json",
        [*outputs.values(), env.Value(json.dumps(info, sort_keys=True))],
        Action(_write_manifest, "[manifest] $TARGET"),
    )
    env.NoCache(manifest)
    return manifest


@tool(sources)
def generate(env):
    env.AddMethod(build_manifest, "BuildManifest")
