"""SCons tool: pinned sources as build inputs.

env.PinnedSource(name) returns a small JSON stamp node whose content is the
lock entry, so a step that depends on it rebuilds exactly when the pinned
input changes. The stamp's action fetches, verifies and unpacks the source.
env.SourceTree(name) gives the unpacked tree's path inside an action.
"""

from __future__ import annotations

import json
from pathlib import Path

from SCons.Action import Action

from warmboot.scons.common import scons_step, tool
from warmboot.sources import load_lock, materialize
from warmboot.sources.cache import SourceCache
from warmboot.sources.resolve import cached_tree, override_path
from warmboot.steps.run import say


def _lock(env):
    if "WB_LOCK_OBJ" not in env:
        env["WB_LOCK_OBJ"] = load_lock(Path(env["WB_LOCK"]))
    return env["WB_LOCK_OBJ"]


def source_tree(env, name: str):
    """Materialize (usually: find in the cache) and return the SourceTree."""
    pinned = _lock(env).get(name)
    return materialize(
        pinned, SourceCache(Path(env.subst("$WB_CACHE"))), log=lambda m: say("sources", m)
    )


def is_override(env, name: str) -> bool:
    return override_path(_lock(env).get(name)) is not None


@scons_step
def _materialize_action(target, source, env):
    name = env["WB_SOURCE_NAME"]
    tree = source_tree(env, name)
    Path(str(target[0])).write_text(source[0].get_contents().decode() + "\n")
    say("sources", f"{name}: {tree.path} ({tree.provider})")
    return 0


def pinned_source(env, name: str):
    pinned = _lock(env).get(name)
    local = override_path(pinned)
    cache = SourceCache(Path(env.subst("$WB_CACHE")))
    state = {"source": pinned.describe(), "override": str(local) if local else None}
    stamp = env.Command(
        f"$WB_BUILD/sources/{name}.json",
        env.Value(json.dumps(state, sort_keys=True)),
        Action(_materialize_action, f"[sources] {name} {pinned.version}"),
        WB_SOURCE_NAME=name,
    )
    env.NoCache(stamp)
    # An override tree can change under us; a cached tree may have been deleted.
    if local or cached_tree(pinned, cache) is None:
        env.AlwaysBuild(stamp)
    return stamp


@tool()
def generate(env):
    env.AddMethod(pinned_source, "PinnedSource")
    env.AddMethod(source_tree, "SourceTree")
    env.AddMethod(is_override, "IsOverride")
