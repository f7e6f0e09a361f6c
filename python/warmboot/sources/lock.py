"""The lock file: every external input, its version and its sha256."""
from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from pathlib import Path

from .errors import LockError

SHA256_RE = re.compile(r"^[0-9a-f]{64}$")
KINDS = ("debian-source", "debian-binary", "archive")


@dataclass(frozen=True)
class PinnedFile:
    name: str
    sha256: str
    urls: tuple[str, ...] = ()


@dataclass(frozen=True)
class PinnedSource:
    """One input: how to obtain its files and how to turn them into a tree."""

    name: str
    version: str
    kind: str
    files: tuple[PinnedFile, ...]
    description: str = ""
    package: str = ""
    package_version: str = ""
    architecture: str = ""
    member: str = ""      # debian-binary: the path inside the package to unpack
    tree: str = ""        # subdirectory of the unpacked result that is the tree
    override: str = ""    # environment variable naming a local tree

    @property
    def key(self) -> str:
        """A short, stable name for the unpacked tree: changes when any file does."""
        import hashlib
        joined = "".join(f.sha256 for f in self.files)
        return hashlib.sha256(joined.encode()).hexdigest()[:16]

    def describe(self) -> dict:
        return {
            "name": self.name,
            "version": self.version,
            "kind": self.kind,
            "package": self.package,
            "package_version": self.package_version,
            "architecture": self.architecture,
            "files": [{"name": f.name, "sha256": f.sha256} for f in self.files],
        }


@dataclass(frozen=True)
class LockFile:
    path: Path
    sources: dict[str, PinnedSource]

    def get(self, name: str) -> PinnedSource:
        try:
            return self.sources[name]
        except KeyError:
            known = ", ".join(sorted(self.sources))
            raise LockError(f"{self.path}: no source named {name!r} (known: {known})") from None


def _require(table: dict, key: str, where: str, kind=str):
    if key not in table:
        raise LockError(f"{where}: missing key {key!r}")
    value = table[key]
    if not isinstance(value, kind):
        raise LockError(f"{where}: {key!r} must be a {kind.__name__}")
    return value


def parse_lock(data: dict, path: Path) -> LockFile:
    sources = {}
    table = data.get("sources")
    if not isinstance(table, dict) or not table:
        raise LockError(f"{path}: no [sources.*] tables")
    for name, entry in table.items():
        where = f"{path}: sources.{name}"
        if not isinstance(entry, dict):
            raise LockError(f"{where}: must be a table")
        kind = _require(entry, "kind", where)
        if kind not in KINDS:
            raise LockError(f"{where}: kind {kind!r} is not one of {', '.join(KINDS)}")
        files = []
        for i, f in enumerate(_require(entry, "files", where, list)):
            fwhere = f"{where}.files[{i}]"
            fname = _require(f, "name", fwhere)
            digest = _require(f, "sha256", fwhere).lower()
            if not SHA256_RE.match(digest):
                raise LockError(f"{fwhere}: sha256 {digest!r} is not 64 hex digits")
            if "/" in fname or fname in ("", ".", ".."):
                raise LockError(f"{fwhere}: file name {fname!r} must be a plain name")
            files.append(PinnedFile(fname, digest, tuple(f.get("urls", ()))))
        if not files:
            raise LockError(f"{where}: no files")
        if kind.startswith("debian-") and not entry.get("package"):
            raise LockError(f"{where}: kind {kind} needs 'package' and 'package_version'")
        sources[name] = PinnedSource(
            name=name,
            version=_require(entry, "version", where),
            kind=kind,
            files=tuple(files),
            description=entry.get("description", ""),
            package=entry.get("package", ""),
            package_version=entry.get("package_version", ""),
            architecture=entry.get("architecture", ""),
            member=entry.get("member", ""),
            tree=entry.get("tree", ""),
            override=entry.get("override", ""),
        )
    return LockFile(path, sources)


def load_lock(path: Path) -> LockFile:
    try:
        data = tomllib.loads(Path(path).read_text())
    except FileNotFoundError:
        raise LockError(f"lock file {path} does not exist") from None
    except tomllib.TOMLDecodeError as exc:
        raise LockError(f"{path}: not valid TOML: {exc}") from None
    return parse_lock(data, Path(path))
