"""Turn a pinned source into a verified, unpacked tree, trying providers in order:
a local override, the sha256 cache, mirrors, then Debian's archive."""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from . import fetch
from .apt import PrivateApt
from .cache import SourceCache
from .errors import (
    AptError,
    HashMismatchError,
    NotInArchiveError,
    SourceError,
    SourceUnavailableError,
)
from .lock import PinnedFile, PinnedSource

MARKER = ".warmboot-source.json"

Log = Callable[[str], None]


@dataclass(frozen=True)
class SourceTree:
    """A usable input: a directory (or, for a single-file member, a file)."""

    name: str
    path: Path
    provider: str
    pinned: PinnedSource

    def describe(self) -> dict:
        return {**self.pinned.describe(), "provider": self.provider}


def quiet(msg: str) -> None:
    pass


@contextmanager
def locked(path: Path):
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def override_path(pinned: PinnedSource, environ=os.environ) -> Path | None:
    if not pinned.override:
        return None
    value = environ.get(pinned.override)
    if not value:
        return None
    path = Path(value).expanduser().resolve()
    if not path.exists():
        raise SourceError(f"{pinned.override}={value}: no such file or directory")
    return path


def tree_dir(pinned: PinnedSource, cache: SourceCache) -> Path:
    return cache.trees / f"{pinned.name}-{pinned.key}"


def _tree_result(pinned: PinnedSource, root: Path) -> Path:
    if pinned.kind == "debian-binary" and pinned.member and not _is_tarball(pinned.member):
        return root / Path(pinned.member).name
    return root / pinned.tree if pinned.tree else root


def cached_tree(pinned: PinnedSource, cache: SourceCache) -> Path | None:
    """The unpacked tree if it is complete (its marker is written last)."""
    root = tree_dir(pinned, cache)
    if (root / MARKER).exists():
        return _tree_result(pinned, root)
    return None


def _is_tarball(name: str) -> bool:
    return any(name.endswith(s) for s in (".tar", ".tar.gz", ".tar.xz", ".tar.bz2", ".tgz"))


def obtain_files(
    pinned: PinnedSource,
    cache: SourceCache,
    log: Log = quiet,
    environ=os.environ,
    use_apt: bool = True,
) -> dict[str, Path]:
    """Every pinned file as a verified cache path, fetching what is missing."""
    found: dict[str, Path] = {}
    for f in pinned.files:
        path = cache.lookup(f)
        if path:
            found[f.name] = path
    missing = [f for f in pinned.files if f.name not in found]
    errors: list[str] = []
    for f in list(missing):
        for url in fetch.mirror_urls(f, environ):
            log(f"sources: fetching {f.name} from mirror {url}")
            try:
                found[f.name] = fetch.download(url, f, cache)
                missing.remove(f)
                break
            except fetch.MirrorError as exc:
                errors.append(str(exc))
    if missing and use_apt and pinned.kind.startswith("debian-"):
        try:
            found.update(_from_apt(pinned, missing, cache, log))
        except NotInArchiveError as exc:
            raise NotInArchiveError(
                f"{pinned.name}: {exc}; run `{update_command(pinned.name)}` to pin the "
                "version it carries now, and commit the lock"
            ) from None
        except AptError as exc:
            raise AptError(
                f"{pinned.name}: {exc}; if the archive no longer carries it, "
                f"`{update_command(pinned.name)}` pins the version it has"
            ) from None
        missing = [f for f in missing if f.name not in found]
    if missing:
        names = ", ".join(f.name for f in missing)
        detail = ("\n  " + "\n  ".join(errors)) if errors else ""
        raise SourceUnavailableError(f"{pinned.name}: no provider delivered {names}{detail}")
    return found


def update_command(name: str) -> str:
    """What to run when the archive has moved past a pin."""
    return f"warmboot sources update {name}"


def _from_apt(
    pinned: PinnedSource, missing: list[PinnedFile], cache: SourceCache, log: Log
) -> dict[str, Path]:
    archs = (pinned.architecture,) if pinned.architecture else ()
    apt = PrivateApt.in_cache(cache.root, archs, pinned.suite)
    got: dict[str, Path] = {}
    with tempfile.TemporaryDirectory(dir=cache.root, prefix=".apt-") as tmp:
        where = Path(tmp)
        if pinned.kind == "debian-source":
            log(f"sources: apt-get source {pinned.package}={pinned.package_version}")
            files = {
                p.name: p
                for p in apt.download_source(pinned.package, pinned.package_version, where)
            }
            for f in missing:
                if f.name not in files:
                    raise SourceUnavailableError(
                        f"apt-get source {pinned.package}={pinned.package_version} "
                        f"did not produce {f.name} (it produced: {', '.join(sorted(files))})"
                    )
                got[f.name] = cache.admit(files[f.name], f, "Debian's archive (apt-get source)")
        else:
            (f,) = missing  # a binary package is one .deb
            log(f"sources: apt-get download {pinned.package}={pinned.package_version}")
            deb = apt.download_binary(
                pinned.package, pinned.package_version, pinned.architecture, where
            )
            got[f.name] = cache.admit(deb, f, "Debian's archive (apt-get download)")
    return got


def _run(cmd: list[str], cwd: Path | None = None) -> None:
    result = subprocess.run(
        cmd, cwd=cwd, capture_output=True, text=True, env={**os.environ, "LC_ALL": "C"}
    )
    if result.returncode != 0:
        raise SourceError(f"{' '.join(cmd)} failed:\n{(result.stderr or result.stdout)[-2000:]}")


def unpack(pinned: PinnedSource, files: dict[str, Path], dest: Path) -> None:
    """Unpack verified files into dest (an empty directory)."""
    work = dest / ".unpack"
    work.mkdir()
    if pinned.kind == "debian-source":
        for name, path in files.items():
            os.symlink(path, work / name)
        dsc = next(n for n in files if n.endswith(".dsc"))
        # dpkg-source re-checks the .dsc checksums and applies Debian's patches.
        _run(["dpkg-source", "--no-copy", "-x", str(work / dsc), str(dest / "tree")])
        for child in (dest / "tree").iterdir():
            child.rename(dest / child.name)
        (dest / "tree").rmdir()
    elif pinned.kind == "debian-binary":
        (deb,) = files.values()
        if not pinned.member:  # the whole package is the tree
            _run(["dpkg-deb", "-x", str(deb), str(dest)])
            work.rmdir()
            return
        _run(["dpkg-deb", "-x", str(deb), str(work)])
        member = work / pinned.member
        if not member.exists():
            raise SourceError(f"{pinned.name}: {pinned.member} is not in {deb.name}")
        if _is_tarball(pinned.member):
            _run(["tar", "-xf", str(member), "-C", str(dest)])
        else:
            shutil.copy2(member, dest / member.name)
    else:  # archive
        for path in files.values():
            _run(["tar", "-xf", str(path), "-C", str(dest)])
    shutil.rmtree(work)


def materialize(
    pinned: PinnedSource, cache: SourceCache | None = None, log: Log = quiet, environ=os.environ
) -> SourceTree:
    """The verified tree for pinned, obtaining and unpacking it if needed."""
    cache = cache or SourceCache()
    local = override_path(pinned, environ)
    if local:
        log(f"sources: {pinned.name} from {pinned.override}={local} (local override, not verified)")
        return SourceTree(pinned.name, local, f"override:{pinned.override}={local}", pinned)
    tree = cached_tree(pinned, cache)
    if tree:
        return SourceTree(pinned.name, tree, "cache", pinned)
    with locked(cache.trees / ".lock"):
        tree = cached_tree(pinned, cache)  # another build may have finished it
        if tree:
            return SourceTree(pinned.name, tree, "cache", pinned)
        files = obtain_files(pinned, cache, log, environ)
        final = tree_dir(pinned, cache)
        tmp = Path(tempfile.mkdtemp(prefix=f".{pinned.name}-", dir=cache.trees))
        try:
            log(f"sources: unpacking {pinned.name} {pinned.version}")
            unpack(pinned, files, tmp)
            (tmp / MARKER).write_text(json.dumps(pinned.describe(), indent=2) + "\n")
            if final.exists():
                shutil.rmtree(final)  # an incomplete earlier attempt (no marker)
            tmp.rename(final)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
    return SourceTree(pinned.name, _tree_result(pinned, final), "verified", pinned)


__all__ = [
    "HashMismatchError",
    "SourceTree",
    "cached_tree",
    "materialize",
    "obtain_files",
    "override_path",
]
