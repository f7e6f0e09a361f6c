"""A throwaway Debian repository served from 127.0.0.1, for testing apt paths.

Packages and Sources are made by dpkg's own scanners, the Release file is
clear-signed (InRelease) with a GPG key made for the test, and the directory
is served by an http.server thread, so real apt-get runs against it exactly as
against Debian's archive: it checks the signature and the indices' hashes.
"""

from __future__ import annotations

import email.utils
import hashlib
import http.server
import io
import shutil
import subprocess
import tarfile
import tempfile
import threading
from dataclasses import dataclass
from functools import partial
from pathlib import Path

SUITE = "test"
COMPONENT = "main"


def _run(cmd: list[str], cwd: Path | None = None, env: dict | None = None) -> str:
    result = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{result.stderr}{result.stdout}")
    return result.stdout


def tar_xz(files: dict[str, bytes]) -> bytes:
    """A reproducible .tar.xz of name -> content (same input, same bytes)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:xz") as tar:
        for name, data in sorted(files.items()):
            info = tarfile.TarInfo(name)
            info.size, info.mtime, info.mode = len(data), 0, 0o644
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


@dataclass(frozen=True)
class BuiltFile:
    """A file as published (its hash outlives its removal from the pool)."""

    name: str
    path: Path
    sha256: str

    @classmethod
    def of(cls, path: Path) -> BuiltFile:
        return cls(path.name, path, hashlib.sha256(path.read_bytes()).hexdigest())


class LocalAptRepo:
    """A signed repository under root, served at self.url while open."""

    def __init__(self, root: Path, arch: str):
        self.root = Path(root)
        self.arch = arch
        self.pool = self.root / "pool" / COMPONENT
        self.pool.mkdir(parents=True)
        # gpg-agent's socket path must be short, so the home is not under root.
        self.gnupg = Path(tempfile.mkdtemp(prefix="wbgpg-"))
        self._gpg(
            "--quick-gen-key",
            "warmboot test repository <repo@test.invalid>",
            "ed25519",
            "sign",
            "0",
        )
        self.keyring = self.root.parent / f"{self.root.name}-keyring.gpg"
        self.keyring.write_bytes(
            subprocess.run(
                ["gpg", "--homedir", str(self.gnupg), "--export"], capture_output=True, check=True
            ).stdout
        )
        handler = partial(_QuietHandler, directory=str(self.root))
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/"

    def _gpg(self, *args: str) -> str:
        return _run(
            [
                "gpg",
                "--homedir",
                str(self.gnupg),
                "--batch",
                "--yes",
                "--pinentry-mode",
                "loopback",
                "--passphrase",
                "",
                *args,
            ]
        )

    def source_line(self) -> str:
        return f"deb [signed-by={self.keyring}] {self.url} {SUITE} {COMPONENT}\n"

    # -- packages ----------------------------------------------------------
    def add_binary(
        self, package: str, version: str, files: dict[str, bytes], arch: str = "all"
    ) -> BuiltFile:
        """A .deb holding files (path -> content), like apt's pool has it."""
        stage = Path(tempfile.mkdtemp(dir=self.root.parent, prefix=".deb-"))
        (stage / "DEBIAN").mkdir()
        (stage / "DEBIAN" / "control").write_text(
            f"Package: {package}\nVersion: {version}\nArchitecture: {arch}\n"
            "Maintainer: warmboot tests <tests@test.invalid>\n"
            f"Description: warmboot test package {version}\n"
        )
        for rel, data in files.items():
            path = stage / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
        upstream = version.split(":", 1)[-1]
        deb = self.pool / f"{package}_{upstream}_{arch}.deb"
        _run(["dpkg-deb", "--root-owner-group", "-Zxz", "--build", str(stage), str(deb)])
        shutil.rmtree(stage)
        return BuiltFile.of(deb)

    def add_source(
        self, package: str, upstream: str, revision: str, files: dict[str, bytes]
    ) -> list[BuiltFile]:
        """A 3.0 (quilt) source package: .dsc, orig and debian tarballs."""
        top = f"{package}-{upstream}"
        orig = self.pool / f"{package}_{upstream}.orig.tar.xz"
        if not orig.exists():  # kept across revisions, as in Debian's archive
            orig.write_bytes(tar_xz({f"{top}/{n}": d for n, d in files.items()}))
        work = Path(tempfile.mkdtemp(dir=self.root.parent, prefix=".src-"))
        shutil.copy2(orig, work / orig.name)
        _run(["tar", "-xf", orig.name], cwd=work)
        debian = work / top / "debian"
        (debian / "source").mkdir(parents=True)
        (debian / "source" / "format").write_text("3.0 (quilt)\n")
        (debian / "control").write_text(
            f"Source: {package}\nMaintainer: warmboot tests <tests@test.invalid>\n\n"
            f"Package: {package}\nArchitecture: all\nDescription: test\n"
        )
        (debian / "changelog").write_text(
            f"{package} ({upstream}-{revision}) unstable; urgency=low\n\n"
            f"  * revision {revision}\n\n"
            " -- warmboot tests <tests@test.invalid>  Thu, 01 Jan 2024 00:00:00 +0000\n"
        )
        _run(["dpkg-source", "-b", top], cwd=work)
        built = []
        for path in sorted(work.iterdir()):
            if path.is_file() and path.name != orig.name:
                shutil.move(path, self.pool / path.name)
                built.append(BuiltFile.of(self.pool / path.name))
        shutil.rmtree(work)
        return sorted([*built, BuiltFile.of(orig)], key=lambda f: f.name)

    def remove(self, *names: str) -> None:
        for name in names:
            (self.pool / name).unlink()

    # -- indices -----------------------------------------------------------
    def publish(self, suite: str = SUITE) -> None:
        """Write suite's Packages, Sources and a signed InRelease for what the pool
        holds now (another suite keeps the indices it was published with)."""
        dist = self.root / "dists" / suite
        binary = dist / COMPONENT / f"binary-{self.arch}"
        source = dist / COMPONENT / "source"
        binary.mkdir(parents=True, exist_ok=True)
        source.mkdir(parents=True, exist_ok=True)
        (binary / "Packages").write_text(
            _run(["dpkg-scanpackages", "--multiversion", "pool", "/dev/null"], cwd=self.root)
        )
        (source / "Sources").write_text(_run(["dpkg-scansources", "pool"], cwd=self.root))
        lines = []
        for path in (binary / "Packages", source / "Sources"):
            data = path.read_bytes()
            rel = path.relative_to(dist)
            lines.append(f" {hashlib.sha256(data).hexdigest()} {len(data)} {rel}")
        release = dist / "Release"
        release.write_text(
            f"Origin: warmboot-test\nLabel: warmboot-test\nSuite: {suite}\nCodename: {suite}\n"
            f"Date: {email.utils.formatdate(usegmt=True)}\n"
            f"Architectures: {self.arch}\nComponents: {COMPONENT}\n"
            "SHA256:\n" + "\n".join(lines) + "\n"
        )
        self._gpg(
            "--digest-algo", "SHA256", "--clearsign", "-o", str(dist / "InRelease"), str(release)
        )

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        subprocess.run(
            ["gpgconf", "--homedir", str(self.gnupg), "--kill", "gpg-agent"], capture_output=True
        )
        shutil.rmtree(self.gnupg, ignore_errors=True)


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass
