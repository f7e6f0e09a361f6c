"""`warmboot sources`: list the pinned inputs, and fetch/verify them ahead of a build."""
from __future__ import annotations

import argparse
from pathlib import Path

from .cache import SourceCache
from .lock import load_lock
from .resolve import cached_tree, materialize

DEFAULT_LOCK = Path(__file__).resolve().parents[3] / "coreboot-config" / "sources.lock.toml"


def _list(args: argparse.Namespace) -> int:
    lock = load_lock(args.lock)
    cache = SourceCache()
    for name, pinned in sorted(lock.sources.items()):
        state = "unpacked" if cached_tree(pinned, cache) else "not fetched"
        print(f"{name:16s} {pinned.version:10s} {pinned.kind:14s} {state}")
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


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("sources", help="list, fetch and verify the pinned source inputs")
    parser.add_argument("--lock", type=Path, default=DEFAULT_LOCK, help="lock file")
    cmds = parser.add_subparsers(dest="sources_command", metavar="ACTION", required=True)
    cmds.add_parser("list", help="the pinned inputs and whether they are cached").set_defaults(
        func=_list)
    fetch = cmds.add_parser("fetch", help="obtain, verify and unpack inputs into the cache")
    fetch.add_argument("names", nargs="*", help="sources to fetch (default: all)")
    fetch.set_defaults(func=_fetch)
