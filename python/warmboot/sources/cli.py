"""`warmboot sources`: list the pinned inputs, fetch/verify them ahead of a build,
check that the archive still carries them, and move them to its current versions."""

from __future__ import annotations

import argparse
from pathlib import Path

from . import update as pins
from .cache import SourceCache
from .errors import PinsUnfetchableError
from .lock import load_lock
from .resolve import cached_tree, materialize, update_command

DEFAULT_LOCK = Path(__file__).resolve().parents[3] / "coreboot-config" / "sources.lock.toml"


def _list(args: argparse.Namespace) -> int:
    lock = load_lock(args.lock)
    cache = SourceCache()
    width = max((len(name) for name in lock.sources), default=0)
    version_width = max((len(p.version) for p in lock.sources.values()), default=0)
    for name, pinned in sorted(lock.sources.items()):
        state = "unpacked" if cached_tree(pinned, cache) else "not fetched"
        print(f"{name:{width}s} {pinned.version:{version_width}s} {pinned.kind:14s} {state}")
        for f in pinned.files:
            print(f"    {f.sha256}  {f.name}")
    return 0


def _fetch(args: argparse.Namespace) -> int:
    lock = load_lock(args.lock)
    names = args.names or sorted(lock.sources)
    for name in names:
        tree = materialize(lock.get(name), log=print)
        print(f"{name}: {tree.path} ({tree.provider})")
    return 0


def _status_line(status: pins.PinStatus, name_width: int = 22) -> str:
    if status.fetchable and status.origin == "archive":
        text = "ok: the archive carries it"
        if status.current:
            # Debian drops a version soon after its successor arrives.
            text += (
                f"; its current version is {status.current}, so this one may go "
                f"(`{update_command(status.name)}` moves to it)"
            )
    elif status.fetchable:
        text = f"ok: on its mirrors ({status.detail})"
    else:
        text = f"CANNOT BE FETCHED: {status.detail}"
        if status.cached:
            text += "; still in this machine's cache, so builds here keep working"
    pinned = status.pinned
    version = pinned.package_version or pinned.version
    return f"{status.name:{name_width}s} {version:24s} {text}"


def _check(args: argparse.Namespace) -> int:
    lock = load_lock(args.lock)
    names = args.names or sorted(lock.sources)
    statuses = pins.check(lock, [lock.get(n).name for n in names], SourceCache())
    width = max((len(s.name) for s in statuses), default=0)
    for status in statuses:
        print(_status_line(status, width))
    bad = [s.name for s in statuses if not s.fetchable]
    if bad:
        # A pin the archive has moved past is updated; one it lists at the pinned
        # version but does not serve, or no longer has at all, needs a mirror.
        movable = [s.name for s in statuses if not s.fetchable and s.current]
        stuck = [n for n in bad if n not in movable]
        fix = [f"run `{update_command(' '.join(movable))}` and commit the lock"] if movable else []
        if stuck:
            fix.append(f"give {', '.join(stuck)} a mirror that serves the pinned files")
        raise PinsUnfetchableError(
            f"{len(bad)} of {len(statuses)} pins can no longer be fetched ({', '.join(bad)}): "
            + "; ".join(fix)
        )
    return 0


def _update(args: argparse.Namespace) -> int:
    lock = load_lock(args.lock)
    names = args.names or sorted(n for n, p in lock.sources.items() if p.kind.startswith("debian-"))
    updates = pins.update(lock, [lock.get(n).name for n in names], SourceCache(), log=print)
    for result in updates:
        for line in result.report():
            print(line)
    changed = [u.name for u in updates if u.changed]
    if changed:
        print(f"rewrote {lock.path}: {', '.join(changed)}; commit it with the files' new hashes")
    else:
        print(f"{lock.path}: every pin is at the archive's version; nothing to do")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("sources", help="list, fetch and verify the pinned source inputs")
    parser.add_argument("--lock", type=Path, default=DEFAULT_LOCK, help="lock file")
    cmds = parser.add_subparsers(dest="sources_command", metavar="ACTION", required=True)
    cmds.add_parser("list", help="the pinned inputs and whether they are cached").set_defaults(
        func=_list
    )
    fetch = cmds.add_parser("fetch", help="obtain, verify and unpack inputs into the cache")
    fetch.add_argument("names", nargs="*", help="sources to fetch (default: all)")
    fetch.set_defaults(func=_fetch)
    check = cmds.add_parser(
        "check", help="report pins the archive no longer carries (exit 1 if any)"
    )
    check.add_argument("names", nargs="*", help="sources to check (default: all)")
    check.set_defaults(func=_check)
    update = cmds.add_parser(
        "update", help="move pins to the archive's current versions and rewrite the lock"
    )
    update.add_argument(
        "names",
        nargs="*",
        metavar="NAME",
        help="sources to update (default: every one fetched through apt)",
    )
    update.set_defaults(func=_update)
