"""Debian's archive through apt, with a private configuration.

The machine's own apt sources name the archive (we hard-code no host); we copy
the Debian entries into a private directory, add the matching deb-src lines,
and run apt-get against that directory only, so the system's apt state is
never changed and no root-owned directory needs to be writable.
"""

from __future__ import annotations

import functools
import os
import re
import subprocess
from dataclasses import dataclass, field, replace
from pathlib import Path
from urllib.parse import unquote

from .errors import AptError, NotInArchiveError

SYSTEM_SOURCE_LIST = Path("/etc/apt/sources.list")
SYSTEM_SOURCE_PARTS = Path("/etc/apt/sources.list.d")
SYSTEM_LISTS = Path("/var/lib/apt/lists")
DEBIAN_KEYRING_PREFIX = "/usr/share/keyrings/debian-archive"
# Names an apt sources file to use instead of the machine's (a local mirror).
SOURCES_ENV = "WARMBOOT_APT_SOURCES"

# What apt says when its lists hold no such package version.
NOT_IN_ARCHIVE_RE = re.compile(
    r"was not found|Can not find version|Unable to find a source package|"
    r"Can't find a source to download|Unable to locate package|has no installation candidate"
)
# apt-get update exits 0 when an index could not be fetched; these say so.
STALE_LISTS_RE = re.compile(r"^(W|E): (Failed to fetch|Some index files failed)", re.M)


@dataclass(frozen=True)
class AptSource:
    """One repository: what a deb line or a deb822 stanza names."""

    uri: str
    suite: str
    components: tuple[str, ...]
    signed_by: str = ""
    options: tuple[str, ...] = field(default=())

    def lines(self) -> list[str]:
        opts = list(self.options)
        if self.signed_by:
            opts.append(f"signed-by={self.signed_by}")
        bracket = f"[{' '.join(opts)}] " if opts else ""
        tail = f"{self.uri} {self.suite} {' '.join(self.components)}"
        return [f"deb {bracket}{tail}", f"deb-src {bracket}{tail}"]


def parse_one_line(text: str) -> list[AptSource]:
    """Parse the classic one-line format; only `deb` lines are kept."""
    out = []
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        m = re.match(r"^(deb|deb-src)\s+(?:\[([^\]]*)\]\s+)?(\S+)\s+(\S+)\s*(.*)$", line)
        if not m or m.group(1) != "deb":
            continue
        opts = m.group(2).split() if m.group(2) else []
        signed_by = ""
        kept = []
        for opt in opts:
            if opt.startswith("signed-by="):
                signed_by = opt.split("=", 1)[1]
            elif not opt.startswith("arch="):
                kept.append(opt)
        out.append(
            AptSource(m.group(3), m.group(4), tuple(m.group(5).split()), signed_by, tuple(kept))
        )
    return out


def parse_deb822(text: str) -> list[AptSource]:
    """Parse deb822 .sources stanzas; only enabled stanzas of Types deb are kept."""
    out = []
    for stanza in re.split(r"\n\s*\n", text):
        fields: dict[str, str] = {}
        key = None
        for raw in stanza.splitlines():
            if raw.startswith("#"):
                continue
            if raw[:1] in (" ", "\t") and key:
                fields[key] += "\n" + raw.strip()
                continue
            if ":" in raw:
                key, value = raw.split(":", 1)
                key = key.strip().lower()
                fields[key] = value.strip()
        if "deb" not in fields.get("types", "").split():
            continue
        if fields.get("enabled", "yes").lower() == "no":
            continue
        signed_by = fields.get("signed-by", "")
        if "\n" in signed_by:
            signed_by = ""  # an inline key block; apt falls back to its trusted keys
        for uri in fields.get("uris", "").split():
            for suite in fields.get("suites", "").split():
                out.append(
                    AptSource(uri, suite, tuple(fields.get("components", "").split()), signed_by)
                )
    return out


def _list_prefix(source: AptSource) -> str:
    """apt's lists/ file-name prefix for a repository's InRelease."""
    uri = re.sub(r"^[a-z+]+://", "", source.uri).rstrip("/")
    return (uri + "/dists/" + source.suite).replace("/", "_")


def is_debian(source: AptSource, lists: Path = SYSTEM_LISTS) -> bool:
    """A Debian archive: signed by Debian's keyring, or its Release says so."""
    if source.signed_by.startswith(DEBIAN_KEYRING_PREFIX):
        return True
    release = lists / (_list_prefix(source) + "_InRelease")
    try:
        text = release.read_text(errors="replace")
    except OSError:
        return False
    return re.search(r"^Origin: Debian$", text, re.M) is not None


def system_sources(
    list_file: Path = SYSTEM_SOURCE_LIST,
    parts: Path = SYSTEM_SOURCE_PARTS,
    lists: Path = SYSTEM_LISTS,
) -> list[AptSource]:
    """The machine's Debian repositories, from its own apt configuration."""
    found: list[AptSource] = []
    if list_file.exists():
        found += parse_one_line(list_file.read_text())
    if parts.is_dir():
        for path in sorted(parts.iterdir()):
            if path.suffix == ".list":
                found += parse_one_line(path.read_text())
            elif path.suffix == ".sources":
                found += parse_deb822(path.read_text())
    debian = [s for s in found if is_debian(s, lists)]
    if not debian:
        raise AptError(
            f"no Debian archive found in {list_file} or {parts}/ "
            "(warmboot derives its deb-src entries from the machine's own apt sources)"
        )
    return debian


def configured_sources(environ=os.environ) -> list[AptSource]:
    """$WARMBOOT_APT_SOURCES's entries, taken as given, or the machine's Debian ones."""
    named = environ.get(SOURCES_ENV)
    if not named:
        return system_sources()
    path = Path(named)
    try:
        text = path.read_text()
    except OSError as exc:
        raise AptError(f"{SOURCES_ENV}={named}: {exc.strerror}") from None
    found = parse_deb822(text) if path.suffix == ".sources" else parse_one_line(text)
    if not found:
        raise AptError(f"{SOURCES_ENV}={named}: no deb entries")
    return found


def in_suite(sources: list[AptSource], suite: str) -> list[AptSource]:
    """The same archives, asked for another suite: each release entry (bookworm,
    not bookworm-updates or -security) with its suite replaced."""
    out: list[AptSource] = []
    for source in sources:
        moved = replace(source, suite=suite)
        if "-" not in source.suite and moved not in out:
            out.append(moved)
    if not out:
        raise AptError(f"no Debian release entry in the apt sources to ask for suite {suite}")
    return out


@dataclass(frozen=True)
class ArchiveFile:
    """A file as the archive's signed indices describe it."""

    name: str
    uri: str
    size: int
    sha256: str  # "" when apt reports only a stronger hash


def _print_uris(stdout: str) -> list[ArchiveFile]:
    """Parse apt-get --print-uris lines: 'uri' name size HASH:hex.

    The name kept is the pool's (the URI's last part): apt's own download name
    spells a version's epoch as %3a, and the lock names files as the pool does."""
    out = []
    for line in stdout.splitlines():
        m = re.match(r"^'([^']+)' (\S+) (\d+) (\S+)", line)
        if m:
            algo, _, digest = m.group(4).partition(":")
            name = unquote(m.group(1).rsplit("/", 1)[-1])
            out.append(
                ArchiveFile(
                    name,
                    m.group(1),
                    int(m.group(3)),
                    digest.lower() if algo.upper() == "SHA256" else "",
                )
            )
    return out


def _dpkg_version_cmp(a: str, b: str) -> int:
    if a == b:
        return 0
    lower = subprocess.run(["dpkg", "--compare-versions", a, "lt", b]).returncode == 0
    return -1 if lower else 1


def newest_version(versions: list[str]) -> str:
    """The highest of Debian version strings, by dpkg's own ordering."""
    return max(versions, key=functools.cmp_to_key(_dpkg_version_cmp))


def upstream_version(debian_version: str) -> str:
    """6.1.192-2 -> 6.1.192, 1:1.35.0-4+b1 -> 1.35.0 (epoch and revision dropped)."""
    version = debian_version.split(":", 1)[1] if ":" in debian_version else debian_version
    return version.rsplit("-", 1)[0] if "-" in version else version


def host_architecture() -> str:
    out = subprocess.run(["dpkg", "--print-architecture"], capture_output=True, text=True)
    return out.stdout.strip() or "amd64"


class PrivateApt:
    """apt-get confined to <root>: its own sources, lists and archives."""

    def __init__(
        self,
        root: Path,
        architectures: tuple[str, ...] = (),
        sources: list[AptSource] | None = None,
        suite: str = "",
    ):
        self.root = Path(root)
        archs = [host_architecture()]
        archs += [a for a in architectures if a not in archs and a != "all"]
        self.architectures = tuple(archs)
        self._sources = sources
        self.suite = suite

    @classmethod
    def in_cache(
        cls, cache_root: Path, architectures: tuple[str, ...] = (), suite: str = ""
    ) -> PrivateApt:
        """The cache's apt for suite ("" is the machine's release). Each suite
        keeps its own lists, so the release's candidates stay its own."""
        root = Path(cache_root) / (f"apt-{suite}" if suite else "apt")
        return cls(root, architectures, suite=suite)

    def _options(self) -> list[str]:
        r = self.root
        opts = {
            "Dir::Etc::SourceList": r / "sources.list",
            "Dir::Etc::SourceParts": r / "sources.list.d",
            "Dir::State::Lists": r / "lists",
            "Dir::Cache": r / "cache",
            "Dir::Cache::archives": r / "archives",
            "APT::Sandbox::User": "root" if os.geteuid() == 0 else "",
            "APT::Get::AllowUnauthenticated": "false",
        }
        args = []
        for key, value in opts.items():
            if value != "":
                args += ["-o", f"{key}={value}"]
        args += ["-o", "APT::Architectures::=" + self.architectures[0]]
        for arch in self.architectures[1:]:
            args += ["-o", f"APT::Architectures::={arch}"]
        return args

    def _configure(self) -> bool:
        """Write the private sources; True when they changed (lists are stale)."""
        sources = self._sources if self._sources is not None else configured_sources()
        if self.suite:
            sources = in_suite(sources, self.suite)
        text = "# derived by warmboot from this machine's apt sources\n"
        text += "".join(line + "\n" for s in sources for line in s.lines())
        text += "# architectures: " + " ".join(self.architectures) + "\n"
        for sub in ("sources.list.d", "lists/partial", "cache", "archives/partial"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        path = self.root / "sources.list"
        if path.exists() and path.read_text() == text:
            return False
        path.write_text(text)
        return True

    def _run(
        self, args: list[str], cwd: Path | None = None, tool: str = "apt-get"
    ) -> subprocess.CompletedProcess:
        cmd = [tool, "-q", *self._options(), *args]
        env = {**os.environ, "LC_ALL": "C", "DEBIAN_FRONTEND": "noninteractive"}
        return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, env=env)

    def update(self) -> None:
        result = self._run(["update"])
        if result.returncode != 0:
            raise AptError(
                "apt-get update (private deb-src configuration) failed:\n"
                + (result.stderr or result.stdout).strip()[-2000:]
            )

    def refresh(self) -> None:
        """Re-read every index now; unlike update(), a stale or missing one is an error."""
        self._configure()
        result = self._run(["update"])
        if result.returncode != 0 or STALE_LISTS_RE.search(result.stderr or ""):
            said = [
                ln.strip()
                for ln in (result.stderr or "").splitlines()
                if ln.startswith(("E:", "W:"))
            ][:2]
            raise AptError(
                "apt-get update could not read the archive's current index ("
                + (" / ".join(said) or f"exit {result.returncode}")
                + ")"
            )

    @staticmethod
    def _spec(package: str, arch: str, version: str = "") -> str:
        spec = f"{package}:{arch}" if arch and arch != "all" else package
        return f"{spec}={version}" if version else spec

    def candidate(self, package: str, arch: str, source: bool) -> str:
        """The version apt would fetch now (read after refresh()); '' if none."""
        if not source:
            result = self._run(["policy", self._spec(package, arch)], tool="apt-cache")
            m = re.search(r"^\s*Candidate:\s*(\S+)", result.stdout, re.M)
            return m.group(1) if m and m.group(1) != "(none)" else ""
        result = self._run(["showsrc", "--only-source", package], tool="apt-cache")
        versions = []
        for stanza in re.split(r"\n\s*\n", result.stdout):
            if re.search(rf"^Package: {re.escape(package)}$", stanza, re.M):
                versions += re.findall(r"^Version: (\S+)$", stanza, re.M)
        return newest_version(versions) if versions else ""

    def archive_files(
        self, package: str, version: str, arch: str, source: bool
    ) -> list[ArchiveFile]:
        """The files of package=version with the signed indices' hashes; nothing is
        downloaded. Raises NotInArchiveError when the lists do not carry it."""
        if source:
            args = ["source", "--print-uris", f"{package}={version}"]
        else:
            args = ["download", "--print-uris", self._spec(package, arch, version)]
        result = self._run(args, self.root)
        files = _print_uris(result.stdout)
        if result.returncode != 0 or not files:
            raise self._failure(package, version, result)
        return files

    def _with_fresh_lists(self, args: list[str], cwd: Path) -> subprocess.CompletedProcess:
        changed = self._configure()
        if changed or not any((self.root / "lists").glob("*Packages*")):
            self.update()
        result = self._run(args, cwd)
        if result.returncode != 0:
            # The lists may predate the pinned version; refresh once and retry.
            self.update()
            result = self._run(args, cwd)
        return result

    def download_source(self, package: str, version: str, dest: Path) -> list[Path]:
        """apt-get source --download-only package=version into dest."""
        dest.mkdir(parents=True, exist_ok=True)
        result = self._with_fresh_lists(["source", "--download-only", f"{package}={version}"], dest)
        if result.returncode != 0:
            raise self._failure(package, version, result)
        return sorted(p for p in dest.iterdir() if p.is_file())

    def download_binary(self, package: str, version: str, arch: str, dest: Path) -> Path:
        """apt-get download package:arch=version into dest; returns the .deb."""
        dest.mkdir(parents=True, exist_ok=True)
        result = self._with_fresh_lists(["download", self._spec(package, arch, version)], dest)
        debs = sorted(dest.glob("*.deb"))
        if result.returncode != 0 or len(debs) != 1:
            raise self._failure(package, version, result)
        return debs[0]

    def _failure(self, package: str, version: str, result) -> AptError:
        output = (result.stderr or result.stdout).strip()
        # apt's E: lines say what went wrong; the lines after them are detail.
        lines = [ln.strip() for ln in output.splitlines() if ln.startswith("E:")][:2]
        said = " / ".join(lines or [ln.strip() for ln in output.splitlines()[-2:]])
        if NOT_IN_ARCHIVE_RE.search(output):
            return NotInArchiveError(
                f"the archive no longer carries {package} {version} (apt: {said})"
            )
        return AptError(f"the archive did not deliver {package} {version} (apt: {said})")
