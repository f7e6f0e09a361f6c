"""A cache of verified files keyed by sha256, outside the checkout.

Layout under the cache root ($WARMBOOT_CACHE or ~/.cache/warmboot):
  sources/sha256/<digest>   verified files, named by their content
  trees/<name>-<key>/       unpacked trees, complete when their marker exists
  apt/                      the private apt configuration and lists
  scons/                    SCons' CacheDir of build outputs
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

from .errors import HashMismatchError
from .lock import PinnedFile

CHUNK = 1 << 20


def default_cache_root() -> Path:
    env = os.environ.get("WARMBOOT_CACHE")
    if env:
        return Path(env).expanduser().resolve()
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "warmboot"


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


class SourceCache:
    """Verified files by sha256; a file enters only after its hash matched."""

    def __init__(self, root: Path | None = None):
        self.root = Path(root) if root else default_cache_root()

    @property
    def blobs(self) -> Path:
        return self.root / "sources" / "sha256"

    @property
    def trees(self) -> Path:
        return self.root / "trees"

    @property
    def scons(self) -> Path:
        return self.root / "scons"

    def blob_path(self, digest: str) -> Path:
        return self.blobs / digest

    def temp_file(self, hint: str) -> Path:
        """A fresh file beside the blobs, so the final rename is atomic."""
        self.blobs.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(prefix=f".partial-{hint}-", dir=self.blobs)
        os.close(fd)
        return Path(name)

    def lookup(self, pinned: PinnedFile) -> Path | None:
        """The cached file, re-verified; a corrupted one is deleted and reported."""
        path = self.blob_path(pinned.sha256)
        if not path.exists():
            return None
        actual = sha256_file(path)
        if actual != pinned.sha256:
            path.unlink()
            raise HashMismatchError(pinned.name, f"the cache at {path}", pinned.sha256, actual)
        return path

    def admit(self, candidate: Path, pinned: PinnedFile, origin: str) -> Path:
        """Verify a downloaded file and move it into the cache, or delete it."""
        try:
            actual = sha256_file(candidate)
            if actual != pinned.sha256:
                raise HashMismatchError(pinned.name, origin, pinned.sha256, actual)
            self.blobs.mkdir(parents=True, exist_ok=True)
            final = self.blob_path(pinned.sha256)
            os.chmod(candidate, 0o644)
            os.replace(candidate, final)
            return final
        finally:
            if candidate.exists():
                candidate.unlink()
