"""Fetch a release directory (docs/releases.md) over HTTP into a run's staging directory.

Nothing large is fetched before the signatures allow it:

1. `release.json`, at most 1 MiB (the envelope limit);
2. `roots/N.root.json` for N = the trusted root's version + 1, + 2, … until
   the server answers 404 (each at most 1 MiB);
3. preflight: `warmboot.release.verify.check_release_before_image`, the
   checks verify_release makes before it reads the image, in its order and
   with its exceptions, so a release it would refuse is refused before its
   image is downloaded;
4. `coreboot.rom` and `manifest.json`: from the cache (keyed by the signed
   sha256, re-hashed on use) or streamed with requests: at most the signed
   length (a longer body is cut off at length + 1), hashed while streaming,
   and admitted into the cache only when length and sha256 equal the signed
   ones. A partial or altered download never enters the cache.

Time limits: `timeout` bounds each connect and each wait for data, and one
wall-clock deadline (`max_seconds`) bounds the whole download. The socket
I/O runs in a worker thread and the caller's thread waits for its data in
short slices, so the deadline and a signal (`should_stop`) end the download
within a fraction of a second whatever the server does (a server trickling
one byte every few seconds passes every per-read timeout).

Redirects are followed by hand (at most MAX_REDIRECTS): never from https to
http, to another host only with `allow_cross_host_redirects`, and every hop
is recorded with the file's final URL.

The staged directory is then verified in full by `verify_release`.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import queue
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

import requests
from tqdm import tqdm
from urllib3.exceptions import HTTPError

from ..fsutil import AtomicFile, PathError, ensure_private_dir, read_capped_nofollow, write_new
from ..release.envelope import MAX_ENVELOPE_BYTES
from ..release.layout import MANIFEST_FILE, RELEASE_ENVELOPE_FILE, ROM_FILE, ROOTS_DIRECTORY
from ..release.payload import ReleasePayload
from ..release.root import SignedRoot, root_file_name, walk_root_chain
from ..release.state import RollbackState
from ..release.verify import check_release_before_image
from .errors import DownloadError, RunInterruptedError, StorageError

CHUNK = 1 << 16
POLL_SECONDS = 0.1  # how often the waiting thread looks at the deadline and signals
MAX_REDIRECTS = 5
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})


@dataclass(frozen=True)
class FetchedFile:
    name: str
    length: int
    sha256: str
    from_cache: bool
    seconds: float
    url: str | None = None  # what was asked for (None: from the cache)
    final_url: str | None = None  # where the bytes came from, after redirects

    def as_record(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "length": self.length,
            "sha256": self.sha256,
            "from_cache": self.from_cache,
            "seconds": round(self.seconds, 3),
            "url": self.url,
            "final_url": self.final_url,
        }


@dataclass(frozen=True)
class FetchedRelease:
    """A staged release directory whose envelope passed the preflight checks."""

    directory: Path
    url: str
    payload: ReleasePayload
    root_version: int
    files: tuple[FetchedFile, ...]
    redirects: tuple[dict[str, str], ...] = ()


class DownloadCache:
    """Downloaded release files by sha256: <root>/sha256/<hex digest>."""

    def __init__(self, root: Path):
        self.root = Path(root)
        self.blobs = self.root / "sha256"

    def path(self, sha256: str) -> Path:
        return self.blobs / sha256

    def prepare(self) -> None:
        """Create the cache directories; refuse them when other users can write there."""
        try:
            ensure_private_dir(self.blobs)
        except PathError as exc:
            raise StorageError(f"download cache: {exc}") from None

    def lookup(self, sha256: str, length: int) -> bytes | None:
        """The cached bytes, re-verified; a damaged entry (or a link) is deleted and missed."""
        path = self.path(sha256)
        try:
            data = read_capped_nofollow(path, length)
        except PathError as exc:
            if exc.errno != errno.ELOOP:
                return None
            data = b""
        if len(data) == length and hashlib.sha256(data).hexdigest() == sha256:
            return data
        with contextlib.suppress(OSError):
            path.unlink()
        return None

    def new_entry(self, sha256: str) -> AtomicFile:
        """The entry for `sha256`, to be committed only once its bytes are checked."""
        try:
            return AtomicFile(self.path(sha256))
        except PathError as exc:
            raise StorageError(f"download cache: {exc}") from None


class _NotFound(Exception):
    """HTTP 404: a missing optional file (the end of the root chain)."""


class _Deadline:
    def __init__(self, seconds: float):
        self.seconds = seconds
        self.end = time.monotonic() + seconds

    def left(self) -> float:
        return self.end - time.monotonic()


class _Transfer(threading.Thread):
    """One GET with its redirects and body. All blocking socket I/O happens here;
    the caller's thread receives events from `events` and can abandon it at
    any moment (cancel())."""

    def __init__(
        self,
        session: requests.Session,
        url: str,
        timeout: float,
        check_redirect: Callable[[str, str], None],
    ):
        super().__init__(name="lab-download", daemon=True)
        self.session = session
        self.url = url
        self.timeout = timeout
        self.check_redirect = check_redirect
        self.events: queue.Queue[tuple[Any, ...]] = queue.Queue(maxsize=16)
        self.cancelled = threading.Event()
        self.response: requests.Response | None = None

    def _put(self, *event: Any) -> bool:
        while not self.cancelled.is_set():
            with contextlib.suppress(queue.Full):
                self.events.put(event, timeout=POLL_SECONDS)
                return True
        return False

    def run(self) -> None:
        try:
            url = self.url
            for _ in range(MAX_REDIRECTS + 1):
                self.response = response = self.session.get(
                    url, stream=True, timeout=(self.timeout, self.timeout), allow_redirects=False
                )
                location = response.headers.get("Location")
                if response.status_code not in REDIRECT_STATUSES or not location:
                    break
                target = urljoin(url, location)
                response.close()
                self.check_redirect(url, target)
                if not self._put("redirect", url, target):
                    return
                url = target
            else:
                raise DownloadError(f"{self.url}: more than {MAX_REDIRECTS} redirects")
            if not self._put(
                "response",
                url,
                response.status_code,
                response.reason,
                response.headers.get("Content-Length", ""),
            ):
                return
            if response.status_code == 200:
                for chunk in self._chunks(response):
                    if not self._put("chunk", chunk):
                        return
            self._put("end")
        except BaseException as exc:  # noqa: BLE001 -- handed to the waiting thread
            self._put("error", exc)
        finally:
            if self.response is not None:
                self.response.close()

    @staticmethod
    def _chunks(response: requests.Response) -> Iterator[bytes]:
        """The body as it arrives (read1: whatever is there, up to CHUNK), so the
        count of bytes received is current even from a slow server."""
        read1 = getattr(response.raw, "read1", None)
        if read1 is None:  # urllib3 1.x
            yield from response.iter_content(CHUNK)
            return
        while chunk := read1(CHUNK, decode_content=True):
            yield chunk

    def cancel(self) -> None:
        self.cancelled.set()
        # Wake a read blocked on a silent peer; shutdown (unlike close) is safe
        # while another thread uses the socket.
        with contextlib.suppress(Exception):
            sock = self.response.raw.connection.sock  # type: ignore[union-attr]  # None: suppressed too
            sock.shutdown(socket.SHUT_RDWR)


class ReleaseDownloader:
    """GETs files of one release directory URL with caps, a deadline and a progress bar."""

    def __init__(
        self,
        url: str,
        *,
        timeout: float,
        max_seconds: float,
        progress: bool | None = None,
        should_stop: Callable[[], bool] = lambda: False,
        allow_cross_host_redirects: bool = False,
    ):
        if urlsplit(url).scheme not in ("http", "https"):
            raise DownloadError(f"release URL {url!r} is not http:// or https://")
        self.base = url if url.endswith("/") else url + "/"
        self.timeout = timeout
        self.deadline = _Deadline(max_seconds)
        self.progress = progress
        self.should_stop = should_stop
        self.allow_cross_host_redirects = allow_cross_host_redirects
        self.redirects: list[dict[str, str]] = []
        self.session = requests.Session()
        # Lengths are compared with the signed ones: no transfer encoding may change them.
        self.session.headers["Accept-Encoding"] = "identity"

    def url(self, name: str) -> str:
        return urljoin(self.base, name)

    def check_redirect(self, source: str, target: str) -> None:
        new, old = urlsplit(target), urlsplit(source)
        if new.scheme not in ("http", "https"):
            raise DownloadError(f"{source} redirects to {target}, which is not http(s)")
        if old.scheme == "https" and new.scheme == "http":
            raise DownloadError(f"{source} redirects from https to http ({target}); refused")
        if new.hostname != urlsplit(self.base).hostname and not self.allow_cross_host_redirects:
            raise DownloadError(
                f"{source} redirects to another host ({target}); set "
                "allow_cross_host_redirects = true in [lab] to follow it"
            )

    def _next_event(self, transfer: _Transfer, url: str, received: int) -> tuple[Any, ...]:
        while True:
            if self.should_stop():
                raise RunInterruptedError(f"interrupted while downloading {url}")
            left = self.deadline.left()
            if left <= 0:
                raise DownloadError(
                    f"{url}: the download did not finish within "
                    f"download_max_seconds ({self.deadline.seconds:g} s; "
                    f"{received} bytes of this file received)"
                )
            with contextlib.suppress(queue.Empty):
                return transfer.events.get(timeout=min(POLL_SECONDS, left))

    def _stream(
        self, name: str, cap: int, sink: Callable[[bytes], None], show_progress: bool
    ) -> tuple[int, str]:
        """Stream `name` into `sink`; (bytes received, the final URL)."""
        url = final = self.url(name)
        received, total = 0, None
        bar: tqdm | None = None
        transfer = _Transfer(self.session, url, self.timeout, self.check_redirect)
        transfer.start()
        try:
            while True:
                event = self._next_event(transfer, url, received)
                kind = event[0]
                if kind == "redirect":
                    self.redirects.append({"from": event[1], "to": event[2]})
                elif kind == "error":
                    error = event[1]
                    if isinstance(error, (requests.RequestException, HTTPError, OSError)):
                        raise DownloadError(
                            f"{final}: download failed after {received} bytes "
                            f"({type(error).__name__}); nothing was kept"
                        )
                    raise error
                elif kind == "response":
                    _, final, status, reason, declared = event
                    if status == 404:
                        raise _NotFound(final)
                    if status != 200:
                        raise DownloadError(f"{final}: HTTP {status} {reason}")
                    total = int(declared) if declared.isdigit() else None
                    if total is not None and total > cap:
                        raise DownloadError(
                            f"{final} is {total} bytes, more than the {cap} "
                            "bytes its signed length allows"
                        )
                    # None lets tqdm decide: a bar on a terminal, nothing in CI logs.
                    disable = True if not show_progress or self.progress is False else None
                    bar = tqdm(
                        total=total,
                        unit="B",
                        unit_scale=True,
                        unit_divisor=1024,
                        desc=name,
                        file=sys.stderr,
                        leave=False,
                        disable=disable,
                    )
                elif kind == "chunk":
                    received += len(event[1])
                    if received > cap:
                        raise DownloadError(
                            f"{final} is longer than the {cap} bytes its signed length allows"
                        )
                    sink(event[1])
                    if bar is not None:
                        bar.update(len(event[1]))
                else:  # "end"
                    if total is not None and received != total:
                        raise DownloadError(
                            f"{final}: download cut short after {received} of {total} bytes"
                        )
                    return received, final
        finally:
            transfer.cancel()
            if bar is not None:
                bar.close()

    def fetch_small(self, name: str, cap: int) -> tuple[bytes, str]:
        data = bytearray()
        _, final = self._stream(name, cap, data.extend, show_progress=False)
        return bytes(data), final

    def fetch_optional(self, name: str, cap: int) -> tuple[bytes, str] | None:
        try:
            return self.fetch_small(name, cap)
        except _NotFound:
            return None

    def fetch_into_cache(self, name: str, length: int, sha256: str, cache: DownloadCache) -> str:
        """Stream `name` into the cache; it enters only with exactly `length` bytes and
        `sha256`. Returns the final URL."""
        digest = hashlib.sha256()
        with cache.new_entry(sha256) as entry:

            def sink(chunk: bytes) -> None:
                entry.write(chunk)
                digest.update(chunk)

            try:
                received, final = self._stream(name, length, sink, show_progress=True)
            except _NotFound:
                raise DownloadError(
                    f"{self.url(name)}: HTTP 404, the release is incomplete"
                ) from None
            except PathError as exc:  # a full cache: the partial entry is deleted on exit
                raise StorageError(f"download cache: {exc}") from None
            if received != length:
                raise DownloadError(
                    f"{final} is {received} bytes, not the signed {length}; nothing was kept"
                )
            if digest.hexdigest() != sha256:
                raise DownloadError(
                    f"{final} does not match its signed sha256 {sha256}; the "
                    "file was altered or replaced, nothing was kept"
                )
            try:
                entry.commit()
            except PathError as exc:
                raise StorageError(f"download cache: {exc}") from None
        return final


def _stage(path: Path, data: bytes) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_new(path, data)
    except OSError as exc:
        raise StorageError(f"staging the release: {path.parent}: {exc.strerror}") from None
    except PathError as exc:
        raise StorageError(f"staging the release: {exc}") from None


def fetch_release(
    url: str,
    staging: Path,
    trusted: SignedRoot,
    *,
    board: str,
    flash_size: int | None,
    state: RollbackState,
    now: datetime,
    allow_expired: bool,
    allow_version_downgrade: bool,
    cache: DownloadCache,
    timeout: float,
    max_seconds: float,
    progress: bool | None = None,
    should_stop: Callable[[], bool] = lambda: False,
    allow_cross_host_redirects: bool = False,
) -> FetchedRelease:
    """Download the release at `url` into `staging` (release.json, roots/, image, manifest)
    within `max_seconds` in all."""
    downloader = ReleaseDownloader(
        url,
        timeout=timeout,
        max_seconds=max_seconds,
        progress=progress,
        should_stop=should_stop,
        allow_cross_host_redirects=allow_cross_host_redirects,
    )
    files: list[FetchedFile] = []

    def fetched(name: str, data: bytes, final: str, started: float) -> None:
        _stage(staging / name, data)
        files.append(
            FetchedFile(
                name,
                len(data),
                hashlib.sha256(data).hexdigest(),
                False,
                time.monotonic() - started,
                downloader.url(name),
                final,
            )
        )

    started = time.monotonic()
    try:
        envelope, final = downloader.fetch_small(RELEASE_ENVELOPE_FILE, MAX_ENVELOPE_BYTES)
    except _NotFound:
        raise DownloadError(
            f"no release at {downloader.base}: {RELEASE_ENVELOPE_FILE} is missing (HTTP 404)"
        ) from None
    fetched(RELEASE_ENVELOPE_FILE, envelope, final, started)

    def fetch_root(version: int) -> bytes | None:
        name, began = f"{ROOTS_DIRECTORY}/{root_file_name(version)}", time.monotonic()
        found = downloader.fetch_optional(name, MAX_ENVELOPE_BYTES)
        if found is None:
            return None
        fetched(name, found[0], found[1], began)
        return found[0]

    root = walk_root_chain(trusted, fetch_root)
    opened, _warnings = check_release_before_image(
        lambda: envelope,
        root,
        board=board,
        flash_size=flash_size,
        state=state,
        now=now,
        allow_expired=allow_expired,
        allow_version_downgrade=allow_version_downgrade,
    )
    payload = opened.payload

    cache.prepare()
    for name, length, sha256 in (
        (ROM_FILE, payload.image.length, payload.image.sha256),
        (MANIFEST_FILE, payload.manifest.length, payload.manifest.sha256),
    ):
        started = time.monotonic()
        data = cache.lookup(sha256, length)
        url_asked = final_url = None
        if data is None:
            url_asked = downloader.url(name)
            final_url = downloader.fetch_into_cache(name, length, sha256, cache)
            data = cache.lookup(sha256, length)
            if data is None:
                raise StorageError(
                    f"download cache: {cache.path(sha256)} vanished after it was written"
                )
        _stage(staging / name, data)
        files.append(
            FetchedFile(
                name,
                length,
                sha256,
                url_asked is None,
                time.monotonic() - started,
                url_asked,
                final_url,
            )
        )
    return FetchedRelease(
        staging, downloader.base, payload, root.version, tuple(files), tuple(downloader.redirects)
    )
