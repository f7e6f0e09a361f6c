"""Fetch a release directory (docs/releases.md) over HTTP into a run's staging directory.

Nothing large is fetched before the signatures allow it:

1. `release.json`, at most 1 MiB (the envelope limit);
2. `roots/N.root.json` for N = the trusted root's version + 1, + 2, … until
   the server answers 404 (each at most 1 MiB);
3. preflight: the checks `verify_release` makes before it reads the image,
   in its order and with its exceptions (root chain, signature threshold,
   board and flash size, expiry, rollback state), so a release it would
   refuse is refused before its image is downloaded;
4. `coreboot.rom` and `manifest.json`: from the cache (keyed by the signed
   sha256, re-hashed on use) or streamed with requests: a connect/read
   timeout, a total time limit, at most the signed length (a longer body is
   cut off at length + 1), hashed while streaming, and admitted into the
   cache only when length and sha256 equal the signed ones. A partial or
   altered download never enters the cache.

The staged directory is then verified in full by `verify_release`.
"""
from __future__ import annotations

import hashlib
import os
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import requests
from tqdm import tqdm

from ..release.envelope import MAX_ENVELOPE_BYTES
from ..release.errors import ExpiredError
from ..release.layout import MANIFEST_FILE, RELEASE_ENVELOPE_FILE, ROM_FILE, ROOTS_DIRECTORY
from ..release.payload import ReleasePayload
from ..release.root import (SignedRoot, check_root_not_stale, root_expiry_error,
                            root_file_name, walk_root_chain)
from ..release.state import RollbackState, check_rollback
from ..release.verify import check_board, open_release_envelope, release_expiry_error
from .errors import DownloadError, RunInterruptedError

CHUNK = 1 << 16


@dataclass(frozen=True)
class FetchedFile:
    name: str
    length: int
    sha256: str
    from_cache: bool
    seconds: float

    def as_record(self) -> dict:
        return {"name": self.name, "length": self.length, "sha256": self.sha256,
                "from_cache": self.from_cache, "seconds": round(self.seconds, 3)}


@dataclass(frozen=True)
class FetchedRelease:
    """A staged release directory whose envelope passed the preflight checks."""

    directory: Path
    url: str
    payload: ReleasePayload
    root_version: int
    files: tuple[FetchedFile, ...]


class DownloadCache:
    """Downloaded release files by sha256: <root>/sha256/<hex digest>."""

    def __init__(self, root: Path):
        self.blobs = Path(root) / "sha256"

    def path(self, sha256: str) -> Path:
        return self.blobs / sha256

    def lookup(self, sha256: str, length: int) -> bytes | None:
        """The cached bytes, re-verified; a damaged entry is deleted and missed."""
        path = self.path(sha256)
        try:
            with open(path, "rb") as handle:
                data = handle.read(length + 1)
        except OSError:
            return None
        if len(data) == length and hashlib.sha256(data).hexdigest() == sha256:
            return data
        path.unlink(missing_ok=True)
        return None

    def new_partial(self) -> tuple[int, Path]:
        self.blobs.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(prefix=".partial-", dir=self.blobs)
        return fd, Path(name)

    def admit(self, partial: Path, sha256: str) -> None:
        os.chmod(partial, 0o644)
        os.replace(partial, self.path(sha256))


def preflight(envelope: bytes, root: SignedRoot, *, board: str, flash_size: int | None,
              state: RollbackState, now: datetime, allow_expired: bool,
              allow_version_downgrade: bool) -> ReleasePayload:
    """verify_release's checks up to (not including) the image, on the envelope bytes."""
    check_root_not_stale(root, state.root_version)
    expired: list[ExpiredError | None] = [root_expiry_error(root, now)]
    opened = open_release_envelope(envelope, root)
    check_board(opened.payload, board, flash_size)
    expired.append(release_expiry_error(opened.payload, now))
    if not allow_expired:
        for error in expired:
            if error is not None:
                raise error
    check_rollback(state, opened.payload, allow_version_downgrade)
    return opened.payload


class _NotFound(Exception):
    """HTTP 404: a missing optional file (the end of the root chain)."""


class ReleaseDownloader:
    """GETs files of one release directory URL with caps, timeouts and a progress bar."""

    def __init__(self, url: str, *, timeout: float, max_seconds: float,
                 progress: bool | None = None,
                 should_stop: Callable[[], bool] = lambda: False):
        if urlsplit(url).scheme not in ("http", "https"):
            raise DownloadError(f"release URL {url!r} is not http:// or https://")
        self.base = url if url.endswith("/") else url + "/"
        self.timeout = timeout
        self.max_seconds = max_seconds
        self.progress = progress
        self.should_stop = should_stop
        self.session = requests.Session()
        # Lengths are compared with the signed ones: no transfer encoding may change them.
        self.session.headers["Accept-Encoding"] = "identity"

    def url(self, name: str) -> str:
        return urljoin(self.base, name)

    def _stream(self, name: str, cap: int, sink: Callable[[bytes], None],
                show_progress: bool) -> int:
        url = self.url(name)
        received, started = 0, time.monotonic()
        try:
            with self.session.get(url, stream=True, timeout=(self.timeout, self.timeout),
                                  allow_redirects=True) as response:
                if response.status_code == 404:
                    raise _NotFound(url)
                if response.status_code != 200:
                    raise DownloadError(f"{url}: HTTP {response.status_code} {response.reason}")
                declared = response.headers.get("Content-Length", "")
                total = int(declared) if declared.isdigit() else None
                if total is not None and total > cap:
                    raise DownloadError(f"{url} is {total} bytes, more than the {cap} bytes "
                                        "its signed length allows")
                # None lets tqdm decide: a bar on a terminal, nothing in CI logs.
                disable = True if not show_progress or self.progress is False else None
                with tqdm(total=total, unit="B", unit_scale=True, unit_divisor=1024,
                          desc=name, file=sys.stderr, leave=False, disable=disable) as bar:
                    for chunk in response.iter_content(CHUNK):
                        received += len(chunk)
                        if received > cap:
                            raise DownloadError(f"{url} is longer than the {cap} bytes its "
                                                "signed length allows")
                        sink(chunk)
                        bar.update(len(chunk))
                        if self.should_stop():
                            raise RunInterruptedError(f"interrupted while downloading {url}")
                        if time.monotonic() - started > self.max_seconds:
                            raise DownloadError(f"{url}: not complete after "
                                                f"{self.max_seconds:g} s ({received} bytes)")
                if total is not None and received != total:
                    raise DownloadError(f"{url}: download cut short after {received} of "
                                        f"{total} bytes")
                return received
        except requests.RequestException as exc:
            reason = exc.__class__.__name__
            raise DownloadError(f"{url}: download failed after {received} bytes ({reason}); "
                                "nothing was kept") from None

    def fetch_small(self, name: str, cap: int) -> bytes:
        data = bytearray()
        self._stream(name, cap, data.extend, show_progress=False)
        return bytes(data)

    def fetch_optional(self, name: str, cap: int) -> bytes | None:
        try:
            return self.fetch_small(name, cap)
        except _NotFound:
            return None

    def fetch_into_cache(self, name: str, length: int, sha256: str,
                         cache: DownloadCache) -> None:
        """Stream `name` into the cache; it enters only with exactly `length` bytes and `sha256`."""
        fd, partial = cache.new_partial()
        digest = hashlib.sha256()
        try:
            with os.fdopen(fd, "wb") as out:
                def sink(chunk: bytes) -> None:
                    out.write(chunk)
                    digest.update(chunk)
                received = self._stream(name, length, sink, show_progress=True)
            if received != length:
                raise DownloadError(f"{self.url(name)} is {received} bytes, not the signed "
                                    f"{length}; nothing was kept")
            if digest.hexdigest() != sha256:
                raise DownloadError(f"{self.url(name)} does not match its signed sha256 "
                                    f"{sha256}; the file was altered or replaced, nothing "
                                    "was kept")
            cache.admit(partial, sha256)
        except _NotFound:
            raise DownloadError(f"{self.url(name)}: HTTP 404, the release is incomplete") from None
        finally:
            partial.unlink(missing_ok=True)


def _write_file(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def fetch_release(url: str, staging: Path, trusted: SignedRoot, *, board: str,
                  flash_size: int | None, state: RollbackState, now: datetime,
                  allow_expired: bool, allow_version_downgrade: bool, cache: DownloadCache,
                  timeout: float, max_seconds: float, progress: bool | None = None,
                  should_stop: Callable[[], bool] = lambda: False) -> FetchedRelease:
    """Download the release at `url` into `staging` (release.json, roots/, image, manifest)."""
    downloader = ReleaseDownloader(url, timeout=timeout, max_seconds=max_seconds,
                                   progress=progress, should_stop=should_stop)
    try:
        envelope = downloader.fetch_small(RELEASE_ENVELOPE_FILE, MAX_ENVELOPE_BYTES)
    except _NotFound:
        raise DownloadError(f"no release at {downloader.base}: {RELEASE_ENVELOPE_FILE} is "
                            "missing (HTTP 404)") from None
    _write_file(staging / RELEASE_ENVELOPE_FILE, envelope)

    def fetch_root(version: int) -> bytes | None:
        name = f"{ROOTS_DIRECTORY}/{root_file_name(version)}"
        data = downloader.fetch_optional(name, MAX_ENVELOPE_BYTES)
        if data is not None:
            _write_file(staging / name, data)
        return data

    root = walk_root_chain(trusted, fetch_root)
    payload = preflight(envelope, root, board=board, flash_size=flash_size, state=state,
                        now=now, allow_expired=allow_expired,
                        allow_version_downgrade=allow_version_downgrade)

    files = []
    for name, length, sha256 in ((ROM_FILE, payload.image.length, payload.image.sha256),
                                 (MANIFEST_FILE, payload.manifest.length,
                                  payload.manifest.sha256)):
        started = time.monotonic()
        data = cache.lookup(sha256, length)
        from_cache = data is not None
        if data is None:
            downloader.fetch_into_cache(name, length, sha256, cache)
            data = cache.lookup(sha256, length)
            if data is None:
                raise DownloadError(f"{cache.path(sha256)} vanished from the cache")
        _write_file(staging / name, data)
        files.append(FetchedFile(name, length, sha256, from_cache, time.monotonic() - started))
    return FetchedRelease(staging, downloader.base, payload, root.version, tuple(files))
