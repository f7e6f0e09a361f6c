"""crash(8) for the qemu-virt board's arm64 vmcores, built here from Debian's source.

Debian 12's crash reads dumps of its own architecture only ("machine type
mismatch" on an arm64 vmcore). crash's own Makefile builds it on this host for
another target, `make target=ARM64`: an x86_64 program that reads arm64 dumps.
Its input is Debian's crash source package with the gdb it embeds, the `crash`
entry of coreboot-config/sources.lock.toml, obtained and verified by sha256
through the sources machinery like every other input.

crash's Makefile moves and patches files inside its tree, so the build runs in
a copy of the verified tree, in a temporary directory under
$WARMBOOT_CACHE/crash-arm64/. Only the finished program is kept: its directory
is renamed into place with its marker written last, so an interrupted or failed
build leaves nothing half-made (the failed build's log stays beside it). The
directory's name derives from the pinned hashes and the build command, so a
warm call only checks that the marker exists.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

from ..errors import WarmbootError, one_line
from ..sources.cache import SourceCache
from ..sources.cli import DEFAULT_LOCK
from ..sources.errors import SourceError
from ..sources.lock import LockFile, PinnedSource, load_lock
from ..sources.resolve import Log, locked, materialize, quiet

SOURCE = "crash"
TARGET = "ARM64"
# make goals that build crash with these formats of compressed kdump files
COMPRESSIONS = ("lzo", "snappy", "zstd")
MARKER = ".warmboot-crash.json"
# Lines of a failed build's log that the one-line error quotes.
LOG_TAIL = 3


class CrashArm64Error(WarmbootError):
    """crash(8) for arm64 dumps cannot be built or run on this machine."""


def make_target() -> list[str]:
    """crash's own way to build for another architecture than the host's,
    with the compressed-dump formats Debian's build enables (debian/rules:
    lzo snappy zstd), so it reads what makedumpfile -l, -p and -z write."""
    return ["make", f"target={TARGET}", *COMPRESSIONS]


def make_command(jobs: int) -> list[str]:
    return [*make_target(), f"-j{jobs}"]


def build_key(pinned: PinnedSource) -> str:
    """Changes when the pinned source or the build command does."""
    text = f"{pinned.key} {' '.join(make_target())}\n"
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def build_dir(cache: SourceCache, pinned: PinnedSource) -> Path:
    return cache.root / "crash-arm64" / f"crash-{pinned.version}-{build_key(pinned)}"


def _pin(lock: LockFile) -> PinnedSource:
    try:
        return lock.get(SOURCE)
    except SourceError as exc:
        raise CrashArm64Error(f"arm64 crash: {one_line(exc)}") from None


def _build(tree: Path, work: Path, log_path: Path) -> Path:
    """make target=ARM64 in a copy of tree; returns the program."""
    src = work / "src"
    shutil.copytree(tree, src, symlinks=True, ignore=shutil.ignore_patterns(".warmboot-*"))
    jobs = os.cpu_count() or 1
    with open(log_path, "w") as log:
        done = subprocess.run(
            make_command(jobs),
            cwd=src,
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, "LC_ALL": "C"},
        )
    program = src / "crash"
    if done.returncode != 0 or not program.is_file():
        text = log_path.read_text(errors="replace")
        tail = " / ".join([ln.strip() for ln in text.splitlines() if ln.strip()][-LOG_TAIL:])
        raise CrashArm64Error(
            f"arm64 crash: `{' '.join(make_command(jobs))}` failed (exit {done.returncode}; "
            f"log {log_path}): {tail}"
        )
    return program


def program(
    lock: LockFile | None = None, cache: SourceCache | None = None, log: Log = quiet
) -> Path:
    """The crash program for arm64 dumps, built from the pinned source if not cached."""
    lock = lock or load_lock(DEFAULT_LOCK)
    cache = cache or SourceCache()
    pinned = _pin(lock)
    final = build_dir(cache, pinned)
    if (final / MARKER).exists():
        return final / "crash"
    final.parent.mkdir(parents=True, exist_ok=True)
    with locked(final.parent / ".lock"):
        if (final / MARKER).exists():  # another run finished it meanwhile
            return final / "crash"
        work = Path(tempfile.mkdtemp(prefix=".build-", dir=final.parent))
        log_path = final.parent / f"{final.name}.log"
        try:
            tree = materialize(pinned, cache, log)
            log(f"crash-arm64: building crash {pinned.version} for {TARGET} (log {log_path})")
            built = _build(tree.path, work, log_path)
            out = work / "out"
            out.mkdir()
            shutil.move(built, out / "crash")
            described = {**pinned.describe(), "make": " ".join(make_target())}
            (out / MARKER).write_text(json.dumps(described, indent=2) + "\n")
            out.chmod(0o755)
            if final.exists():
                shutil.rmtree(final)  # an incomplete earlier attempt (no marker)
            out.rename(final)
            log_path.unlink()
        except SourceError as exc:
            raise CrashArm64Error(f"arm64 crash: {one_line(exc)}") from None
        finally:
            shutil.rmtree(work, ignore_errors=True)
    return final / "crash"


def command(
    lock: LockFile | None = None, cache: SourceCache | None = None, log: Log = quiet
) -> list[str]:
    """The command prefix that runs crash for arm64 dumps: add crash's arguments."""
    return [str(program(lock, cache, log))]


def version(crash: Path) -> str:
    """What the program says it is ('crash 9.0.2'), '' if it does not run."""
    try:
        out = subprocess.run([str(crash), "--version"], capture_output=True, text=True, timeout=60)
    except OSError:
        return ""
    match = re.search(r"^crash \S+$", out.stdout, re.M)
    return match.group(0) if match else ""
