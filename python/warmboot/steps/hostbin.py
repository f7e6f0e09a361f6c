"""This host's dynamically linked programs, with the libraries they load, for
a guest: the test OS saves its dumps with Debian's makedumpfile, and the
benchmark's kdump setups use Debian's kexec-tools the same way. Only for
guests of the host's architecture.

The test OS keeps them where a distribution does, on disk rather than in its
initramfs: the OS disk's sysroot/ holds each file at its host path, and the
initramfs links that path to the disk, mounted at /var/crash. Every byte of an
initramfs is read, checksummed by kexec and unpacked on each boot, before the
OS is in service; the programs are needed only afterwards."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

from ..errors import WarmbootError

# Where Debian installs programs, in the order PATH has them.
HOST_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
# The Debian package that provides a program, when it is not named after it.
PACKAGES = {"kexec": "kexec-tools"}
# Libraries glibc loads at run time, which ldd cannot see: pthread_exit()
# unwinds with libgcc_s (makedumpfile --num-threads aborts without it).
DLOPENED = ("libgcc_s.so.1",)
# Where the test OS mounts its disk (linuxboot/testos/rootfs/etc/rc.sysinit),
# and the disk's directory holding the programs.
OS_DISK_MOUNT = "/var/crash"
SYSROOT = "sysroot"


class HostBinaryError(WarmbootError):
    """A host program is missing or ldd cannot list its libraries."""


def host_binary(name: str) -> Path:
    found = shutil.which(name, path=HOST_PATH)
    if not found:
        raise HostBinaryError(
            f"{name} is not installed on this host (Debian: apt-get install "
            f"{PACKAGES.get(name, name)})"
        )
    return Path(found).resolve()


def shared_libraries(binary: Path) -> list[Path]:
    """The dynamic loader and the libraries binary loads, as ldd names them."""
    out = subprocess.run(["ldd", str(binary)], capture_output=True, text=True)
    if out.returncode != 0:
        raise HostBinaryError(f"ldd {binary} failed: {out.stderr.strip() or out.stdout.strip()}")
    libraries = []
    for line in out.stdout.splitlines():
        # "libz.so.1 => /lib/x86_64-linux-gnu/libz.so.1 (0x...)"
        # or "/lib64/ld-linux-x86-64.so.2 (0x...)"
        match = re.search(r"(?:=>\s*)?(/\S+)\s+\(0x[0-9a-f]+\)", line)
        if match:
            libraries.append(Path(match.group(1)))
    return libraries


def libraries(binary: Path) -> list[Path]:
    """What binary needs at run time: ldd's list, and the run-time loaded
    libraries that live beside its libc."""
    found = shared_libraries(binary)
    libc = next((p for p in found if p.name.startswith("libc.so")), None)
    if libc:
        found += [libc.parent / name for name in DLOPENED if (libc.parent / name).exists()]
    return found


def with_libraries(name: str) -> list[tuple[str, Path]]:
    """(path in the guest, file on the host) for the program and its libraries,
    each at its host path; a library link's target is what gets copied."""
    binary = host_binary(name)
    return [(str(path), path.resolve()) for path in (binary, *libraries(binary))]


def install_dynamic(binary: Path, rootfs: Path) -> None:
    """binary and its libraries at their host paths under rootfs (contents, not links)."""
    for path in (binary, *libraries(binary)):
        dest = rootfs / path.relative_to("/")
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(path, dest)  # follows links: liblzo2.so.2 -> liblzo2.so.2.0.0


def sysroot_files(names: tuple[str, ...] | list[str]) -> dict[str, Path]:
    """Path on the OS disk (sysroot/...) -> host file, for the programs names
    and their libraries."""
    return {f"{SYSROOT}{dest}": src for name in names for dest, src in with_libraries(name)}


def sysroot_links(files: dict[str, Path]) -> list[tuple[str, str]]:
    """(path in the initramfs, link target on the mounted OS disk) for each of
    sysroot_files' paths (ldd runs once, there)."""
    return [(path[len(SYSROOT) :], f"{OS_DISK_MOUNT}/{path}") for path in files]
