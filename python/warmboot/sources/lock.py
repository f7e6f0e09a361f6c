"""The lock file: every external input, its version and its sha256."""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from pathlib import Path

from .. import tomlschema as tp
from .errors import LockError

SHA256_RE = re.compile(r"^[0-9a-f]{64}$")
KINDS = ("debian-source", "debian-binary", "archive")
SUITE_RE = re.compile(r"^[a-z][a-z0-9-]*$")


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
    member: str = ""  # debian-binary: the path inside the package to unpack
    tree: str = ""  # subdirectory of the unpacked result that is the tree
    override: str = ""  # environment variable naming a local tree
    # Debian: the suite that carries package_version when the machine's own
    # release does not; apt asks the machine's archive for this suite instead.
    suite: str = ""

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
            **({"suite": self.suite} if self.suite else {}),
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


_FILE = tp.Table(
    {
        "name": str,
        "sha256": str,
        "urls": tp.Key(tp.List(str), ()),
    }
)

_SOURCE = tp.Table(
    {
        "version": str,
        "kind": str,  # one of KINDS
        "files": tp.List(_FILE),
        "description": tp.Key(str, ""),
        "package": tp.Key(str, ""),
        "package_version": tp.Key(str, ""),
        "architecture": tp.Key(str, ""),
        "member": tp.Key(str, ""),
        "tree": tp.Key(str, ""),
        "override": tp.Key(str, ""),
        "suite": tp.Key(str, ""),
    }
)

# sources.lock.toml; what a schema cannot say is checked in parse_lock.
LOCK_SCHEMA = tp.Table({"sources": tp.Key(tp.Map(_SOURCE, label="[sources.{}]"), {})})


def _file(entry: tp.Section) -> PinnedFile:
    name, digest = entry["name"], entry["sha256"].lower()
    if not SHA256_RE.match(digest):
        raise entry.error(None, f"sha256 {digest!r} is not 64 hex digits")
    if "/" in name or name in ("", ".", ".."):
        raise entry.error(None, f"file name {name!r} must be a plain name")
    return PinnedFile(name, digest, entry["urls"])


def parse_lock(data: dict, path: Path) -> LockFile:
    table = tp.check(data, path, LOCK_SCHEMA, LockError)["sources"]
    if not len(table):
        raise LockError(f"{path}: no [sources.*] tables")
    sources = {}
    for name, entry in table.items():
        kind = entry["kind"]
        if kind not in KINDS:
            raise entry.error(None, f"kind {kind!r} is not one of {', '.join(KINDS)}")
        files = tuple(_file(f) for f in entry["files"])
        if not files:
            raise entry.error(None, "no files")
        if kind.startswith("debian-") and not entry["package"]:
            raise entry.error(None, f"kind {kind} needs 'package' and 'package_version'")
        if entry["suite"] and not kind.startswith("debian-"):
            raise entry.error("suite", f"only Debian packages come from a suite, not kind {kind}")
        if entry["suite"] and not SUITE_RE.match(entry["suite"]):
            raise entry.error("suite", f"{entry['suite']!r} is not a Debian suite name")
        sources[name] = PinnedSource(
            name=name,
            version=entry["version"],
            kind=kind,
            files=files,
            **{
                key: entry[key]
                for key in (
                    "description",
                    "package",
                    "package_version",
                    "architecture",
                    "member",
                    "tree",
                    "override",
                    "suite",
                )
            },
        )
    return LockFile(path, sources)


def load_lock(path: Path) -> LockFile:
    try:
        text = Path(path).read_text()
    except FileNotFoundError:
        raise LockError(f"lock file {path} does not exist") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise LockError(f"{path}: not valid TOML: {exc}") from None
    return parse_lock(data, Path(path))
