"""Mirror downloads: streamed with requests, shown with a progress bar,
verified before they enter the cache; a partial file is never kept."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import requests
from tqdm import tqdm

from .cache import SourceCache
from .errors import SourceError
from .lock import PinnedFile

CONNECT_TIMEOUT = 15
READ_TIMEOUT = 60
CHUNK = 1 << 16


class MirrorError(SourceError):
    """A mirror could not deliver a file."""


def mirror_urls(pinned: PinnedFile, environ=os.environ) -> list[str]:
    """The file's own URLs, then each $WARMBOOT_MIRRORS base with the name appended."""
    urls = list(pinned.urls)
    for base in environ.get("WARMBOOT_MIRRORS", "").split():
        urls.append(base.rstrip("/") + "/" + pinned.name)
    return urls


def download(
    url: str, pinned: PinnedFile, cache: SourceCache, progress: bool | None = None
) -> Path:
    """Fetch url into the cache as pinned; raises MirrorError or HashMismatchError."""
    partial = cache.temp_file(pinned.name)
    try:
        with requests.get(url, stream=True, timeout=(CONNECT_TIMEOUT, READ_TIMEOUT)) as resp:
            if resp.status_code != 200:
                raise MirrorError(f"{url}: HTTP {resp.status_code}")
            expected_len = resp.headers.get("Content-Length")
            total = int(expected_len) if expected_len and expected_len.isdigit() else None
            written = 0
            with (
                open(partial, "wb") as out,
                tqdm(
                    total=total,
                    unit="B",
                    unit_scale=True,
                    unit_divisor=1024,
                    desc=pinned.name,
                    file=sys.stderr,
                    disable=(not sys.stderr.isatty()) if progress is None else not progress,
                ) as bar,
            ):
                for chunk in resp.iter_content(CHUNK):
                    out.write(chunk)
                    written += len(chunk)
                    bar.update(len(chunk))
            if total is not None and written != total:
                raise MirrorError(f"{url}: download cut short ({written} of {total} bytes)")
    except requests.RequestException as exc:
        partial.unlink(missing_ok=True)
        raise MirrorError(f"{url}: {exc.__class__.__name__}: {exc}") from None
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    return cache.admit(partial, pinned, f"mirror {url}")
