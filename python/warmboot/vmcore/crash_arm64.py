"""Debian's arm64 crash(8), run under qemu-user, for the qemu-virt board's vmcores.

Debian 12's crash reads dumps of its own architecture only ("machine type
mismatch" on an arm64 vmcore). Building it with `make target=ARM64` needs the
source package's orig tarball, which the archive does not serve for 8.0.2-1;
the archive does serve Debian's own arm64 build of the same version. So that
binary runs under qemu-aarch64-static, with a sysroot made of the pinned
.debs of crash and the libraries it links (the `crash-arm64*` entries of
coreboot-config/sources.lock.toml).

Each package is obtained and verified by sha256 through the sources machinery
and unpacked whole; the sysroot that merges them is assembled in a temporary
directory under $WARMBOOT_CACHE/crash-arm64/ and renamed into place with its
marker written last, so an interrupted run leaves nothing half-made. Its name
derives from the pinned hashes: a warm call only checks that the marker
exists.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path

from ..errors import WarmbootError
from ..sources.cache import SourceCache
from ..sources.cli import DEFAULT_LOCK
from ..sources.errors import SourceError
from ..sources.lock import LockFile, PinnedSource, load_lock
from ..sources.resolve import MARKER as TREE_MARKER
from ..sources.resolve import Log, locked, materialize, quiet

QEMU = "qemu-aarch64-static"
QEMU_PACKAGE = "qemu-user-static"
# crash first: a missing or bad crash package fails before anything else is fetched.
PACKAGES = (
    "crash-arm64",
    "crash-arm64-libc6",
    "crash-arm64-libgcc-s1",
    "crash-arm64-liblzo2-2",
    "crash-arm64-libncursesw6",
    "crash-arm64-libsnappy1v5",
    "crash-arm64-libstdc++6",
    "crash-arm64-libtinfo6",
    "crash-arm64-libzstd1",
)
CRASH = Path("usr/bin/crash")
MARKER = ".warmboot-sysroot.json"


class CrashArm64Error(WarmbootError):
    """Debian's arm64 crash cannot be run on this machine."""


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())


def sysroot_key(pins: Sequence[PinnedSource]) -> str:
    """Changes when any pinned package (name or file hash) does."""
    text = "".join(f"{p.name} {f.sha256}\n" for p in pins for f in p.files)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _pins(lock: LockFile, names: Sequence[str]) -> list[PinnedSource]:
    try:
        return [lock.get(name) for name in names]
    except SourceError as exc:
        raise CrashArm64Error(f"arm64 crash: {_one_line(exc)}") from None


def sysroot_dir(cache: SourceCache, pins: Sequence[PinnedSource]) -> Path:
    return cache.root / "crash-arm64" / f"sysroot-{sysroot_key(pins)}"


def _link_or_copy(src: str, dst: str) -> None:
    try:
        os.link(src, dst)  # the verified trees' files, without a second copy
    except OSError:
        shutil.copy2(src, dst)


def _skip_markers(directory: str, names: list[str]) -> list[str]:
    return [n for n in names if n == TREE_MARKER]


def sysroot(
    lock: LockFile | None = None,
    cache: SourceCache | None = None,
    names: Sequence[str] = PACKAGES,
    log: Log = quiet,
) -> Path:
    """The assembled arm64 sysroot, made from the pinned packages if not cached."""
    lock = lock or load_lock(DEFAULT_LOCK)
    cache = cache or SourceCache()
    pins = _pins(lock, names)
    final = sysroot_dir(cache, pins)
    if (final / MARKER).exists():
        return final
    with locked(final.parent / ".lock"):
        if (final / MARKER).exists():  # another run finished it meanwhile
            return final
        tmp = Path(tempfile.mkdtemp(prefix=".sysroot-", dir=final.parent))
        try:
            for pinned in pins:
                tree = materialize(pinned, cache, log)
                if not tree.path.is_dir():
                    raise CrashArm64Error(
                        f"arm64 crash: {pinned.name} unpacks to a file, not a package tree "
                        "(its lock entry must name no `member`)"
                    )
                shutil.copytree(
                    tree.path,
                    tmp,
                    symlinks=True,
                    dirs_exist_ok=True,
                    ignore=_skip_markers,
                    copy_function=_link_or_copy,
                )
            if not (tmp / CRASH).is_file():
                raise CrashArm64Error(f"arm64 crash: no {CRASH} in {', '.join(names)}")
            described = [p.describe() for p in pins]
            (tmp / MARKER).write_text(json.dumps(described, indent=2) + "\n")
            tmp.chmod(0o755)
            if final.exists():
                shutil.rmtree(final)  # an incomplete earlier attempt (no marker)
            tmp.rename(final)
        except SourceError as exc:
            shutil.rmtree(tmp, ignore_errors=True)
            raise CrashArm64Error(f"arm64 crash: {_one_line(exc)}") from None
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
    return final


def command(
    lock: LockFile | None = None,
    cache: SourceCache | None = None,
    log: Log = quiet,
    qemu: str = QEMU,
) -> list[str]:
    """The command prefix that runs Debian's arm64 crash: add crash's arguments."""
    exe = shutil.which(qemu)
    if exe is None:
        raise CrashArm64Error(
            f"arm64 crash: {qemu} is not installed (Debian package {QEMU_PACKAGE}; "
            "./ci/bootstrap installs it)"
        )
    root = sysroot(lock, cache, log=log)
    return [exe, "-L", str(root), str(root / CRASH)]
