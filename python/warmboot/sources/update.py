"""Keep pins fetchable: check them against the archive, and move them on.

Debian's archive drops a version once its successor is published, so a pin
that builds today can fail on every fresh clone tomorrow. `check` asks apt,
through the same private configuration the build uses, whether each pin can
still be fetched; `update` re-resolves a pin to the archive's current version,
lets apt download and verify it against the signed indices, and rewrites the
lock in one step.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path
from urllib.parse import unquote, urlsplit

import requests

from . import fetch
from .apt import ArchiveFile, PrivateApt, upstream_version
from .cache import SourceCache, sha256_file
from .errors import AptError, NotInArchiveError, SourceError
from .lock import LockFile, PinnedFile, PinnedSource
from .lockedit import rewrite_lock
from .resolve import Log, cached_tree, quiet, update_command


@dataclass(frozen=True)
class PinStatus:
    """Whether one pin can still be fetched, and from where."""

    name: str
    pinned: PinnedSource
    fetchable: bool
    origin: str  # "archive" or "mirrors" when fetchable
    cached: bool  # this machine can build it without fetching
    detail: str  # why not, or what the archive carries now
    current: str = ""  # the archive's current version, when it is not the pinned one


@dataclass(frozen=True)
class PinUpdate:
    """A pin before and after re-resolving it through apt."""

    name: str
    old: PinnedSource
    new: PinnedSource

    @property
    def changed(self) -> bool:
        return self.old != self.new

    def report(self) -> list[str]:
        o, n = self.old, self.new
        if not self.changed:
            return [
                f"{self.name}: {o.package} {o.package_version} is the archive's version; unchanged"
            ]
        lines = [f"{self.name}: {o.package} {o.package_version} -> {n.package_version}"]
        if o.version != n.version:
            lines.append(f"    version {o.version} -> {n.version}")
        old_files = {(f.name, f.sha256) for f in o.files}
        new_files = {(f.name, f.sha256) for f in n.files}
        lines += [f"  - {sha}  {name}" for name, sha in sorted(old_files - new_files)]
        lines += [f"  + {sha}  {name}" for name, sha in sorted(new_files - old_files)]
        kept = len(old_files & new_files)
        if kept:
            lines.append(f"    ({kept} file{'s' if kept > 1 else ''} unchanged)")
        return lines


def _is_cached(pinned: PinnedSource, cache: SourceCache) -> bool:
    return cached_tree(pinned, cache) is not None or all(
        cache.blob_path(f.sha256).exists() for f in pinned.files
    )


def private_apts(lock: LockFile, names: list[str], cache: SourceCache) -> dict[str, PrivateApt]:
    """One private apt per suite for the Debian pins at hand ("" is the machine's
    release), so one `apt-get update` serves all the pins of a suite."""
    pins = [lock.get(n) for n in names if lock.get(n).kind.startswith("debian-")]
    apts = {}
    for suite in sorted({p.suite for p in pins}):
        archs = tuple(sorted({p.architecture for p in pins if p.suite == suite} - {""}))
        apts[suite] = PrivateApt.in_cache(cache.root, archs, suite)
    return apts


def _on_mirrors(pinned: PinnedSource, environ) -> bool:
    """Every file answers on one of its mirror URLs (contents are checked on fetch)."""
    for f in pinned.files:
        urls = fetch.mirror_urls(f, environ)
        if all(_unserved(u) for u in urls):
            return False
    return True


def _unserved(url: str) -> str:
    """'' when url serves its file now, else why not. Only http(s) and file URLs are
    asked; apt's other transports are trusted as their index describes them."""
    parts = urlsplit(url)
    if parts.scheme == "file":
        return "" if Path(unquote(parts.path)).is_file() else "no such file"
    if parts.scheme not in ("http", "https"):
        return ""
    try:
        resp = requests.head(url, allow_redirects=True, timeout=fetch.CONNECT_TIMEOUT)
    except requests.RequestException as e:
        return f"no answer: {type(e).__name__}"
    return "" if resp.status_code == 200 else f"HTTP {resp.status_code}"


def _archive_mismatch(pinned: PinnedSource, listed: list[ArchiveFile]) -> str:
    """'' when the archive's files are exactly the pinned ones, else what differs."""
    have = {a.name: a.sha256 for a in listed}
    for f in pinned.files:
        if f.name not in have:
            return f"the archive's {pinned.package} {pinned.package_version} has no {f.name}"
        if have[f.name] and have[f.name] != f.sha256:
            return f"the archive's {f.name} has sha256 {have[f.name]}, the lock pins {f.sha256}"
    return ""


def _archive_unserved(pinned: PinnedSource, listed: list[ArchiveFile]) -> str:
    """'' when the archive serves every pinned file: a mirror's index can list a
    file its pool no longer has, and only the fetch would find out."""
    uris = {a.name: a.uri for a in listed}
    for f in pinned.files:
        if why := _unserved(uris[f.name]):
            return f"the archive lists {f.name} but does not serve it ({why})"
    return ""


def check_pin(
    pinned: PinnedSource, apt: PrivateApt | None, cache: SourceCache, environ=os.environ
) -> PinStatus:
    """Whether pinned can be fetched now (apt's lists must be fresh: refresh());
    apt may be None when pinned is not a Debian package."""
    cached = _is_cached(pinned, cache)
    detail = now = ""
    if pinned.kind.startswith("debian-"):
        if apt is None:
            raise ValueError(f"{pinned.name}: a Debian pin needs the private apt")
        source = pinned.kind == "debian-source"
        now = apt.candidate(pinned.package, pinned.architecture, source)
        now = "" if now == pinned.package_version else now
        try:
            listed = apt.archive_files(
                pinned.package, pinned.package_version, pinned.architecture, source
            )
            detail = _archive_mismatch(pinned, listed) or _archive_unserved(pinned, listed)
            if not detail:
                return PinStatus(pinned.name, pinned, True, "archive", cached, "", now)
        except NotInArchiveError:
            detail = f"the archive no longer carries {pinned.package} {pinned.package_version}" + (
                f" (it has {now})" if now else " (nor any version of it)"
            )
    else:
        detail = "not on any mirror"
    if any(fetch.mirror_urls(f, environ) for f in pinned.files) and _on_mirrors(pinned, environ):
        return PinStatus(pinned.name, pinned, True, "mirrors", cached, detail, now)
    return PinStatus(pinned.name, pinned, False, "", cached, detail, now)


def check(
    lock: LockFile, names: list[str], cache: SourceCache, environ=os.environ
) -> list[PinStatus]:
    """The status of each named pin, from the archive's current index."""
    apts = private_apts(lock, names, cache)
    for apt in apts.values():
        apt.refresh()  # a stale list would answer for yesterday's archive
    return [check_pin(lock.get(n), apts.get(lock.get(n).suite), cache, environ) for n in names]


def _next_version(old: PinnedSource, package_version: str) -> str:
    """The lock's `version` for a new package version, in the lock's own style:
    `4.15` for 4.15~dfsg-3 stays `4.16` for 4.16~dfsg-1."""
    old_up, new_up = upstream_version(old.package_version), upstream_version(package_version)
    if old_up == new_up:
        return old.version
    if old_up.startswith(old.version):
        suffix = old_up[len(old.version) :]
        if suffix and new_up.endswith(suffix):
            return new_up[: -len(suffix)]
    return new_up


def resolve_update(
    pinned: PinnedSource, apt: PrivateApt | None, cache: SourceCache, log: Log = quiet
) -> PinUpdate:
    """Re-resolve pinned to the archive's current version; its files end up verified
    in the cache. apt's lists must be fresh (refresh())."""
    if not pinned.kind.startswith("debian-"):
        raise SourceError(
            f"{pinned.name}: kind {pinned.kind} is not fetched through apt; "
            "update its files and sha256 in the lock by hand"
        )
    if apt is None:
        raise ValueError(f"{pinned.name}: a Debian pin needs the private apt")
    source = pinned.kind == "debian-source"
    version = apt.candidate(pinned.package, pinned.architecture, source)
    if not version:
        raise NotInArchiveError(
            f"{pinned.name}: the archive carries no version of {pinned.package}"
        )
    listed = apt.archive_files(pinned.package, version, pinned.architecture, source)
    if version == pinned.package_version:
        mismatch = _archive_mismatch(pinned, listed)
        if mismatch:
            # Debian never changes a published version's files; refuse to follow.
            raise SourceError(
                f"{pinned.name}: {mismatch} under the same version "
                f"{version}; the lock was left unchanged"
            )
        return PinUpdate(pinned.name, pinned, pinned)
    urls = {f.name: f.urls for f in pinned.files}
    files = []
    with tempfile.TemporaryDirectory(dir=cache.root, prefix=".update-") as tmp:
        where = Path(tmp)
        # apt checks each file against the signed index while downloading it.
        if source:
            log(f"sources: apt-get source --download-only {pinned.package}={version}")
            got = {p.name: p for p in apt.download_source(pinned.package, version, where)}
        else:
            log(f"sources: apt-get download {pinned.package}={version}")
            deb = apt.download_binary(pinned.package, version, pinned.architecture, where)
            if len(listed) != 1:
                raise AptError(
                    f"{pinned.name}: the archive lists {len(listed)} files for "
                    f"{pinned.package} {version}, not one .deb"
                )
            got = {listed[0].name: deb}  # the pool's name: apt-get download adds the epoch
        for item in listed:
            if item.name not in got:
                raise AptError(f"{pinned.name}: apt did not deliver {item.name}")
            digest = sha256_file(got[item.name])
            if item.sha256 and digest != item.sha256:
                raise AptError(
                    f"{pinned.name}: {item.name} has sha256 {digest}, the "
                    f"archive's index says {item.sha256}"
                )
            pin = PinnedFile(item.name, digest, urls.get(item.name, ()))
            cache.admit(got[item.name], pin, "the archive (apt)")
            files.append(pin)
    new = replace(
        pinned, version=_next_version(pinned, version), package_version=version, files=tuple(files)
    )
    return PinUpdate(pinned.name, pinned, new)


def update(
    lock: LockFile, names: list[str], cache: SourceCache, log: Log = quiet
) -> list[PinUpdate]:
    """Move the named pins to the archive's current versions and rewrite the lock.

    Every pin is resolved and downloaded before the lock is touched, so a
    failure on any of them leaves the lock exactly as it was."""
    if not names:
        return []
    apts = private_apts(lock, names, cache)
    for apt in apts.values():
        apt.refresh()
    updates = []
    for name in names:
        pinned = lock.get(name)
        try:
            updates.append(resolve_update(pinned, apts.get(pinned.suite), cache, log))
        except AptError as exc:
            raise exc.__class__(f"{name}: {exc}; the lock was left unchanged") from None
    changed = {u.name: u.new for u in updates if u.changed}
    if changed:
        rewrite_lock(lock.path, changed)
    return updates


__all__ = [
    "PinStatus",
    "PinUpdate",
    "check",
    "check_pin",
    "resolve_update",
    "update",
    "update_command",
]
