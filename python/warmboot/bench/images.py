"""The guest images the benchmark boots: one OS disk per crash-dump setup.

Every setup boots the same ROM, the same LinuxBoot and the same test OS kernel
(build/<board>/testos/bzImage); only the OS's command line, its boot script
and what lies in /boot/kdump on its disk differ:

- `plain`: OS command line `warmboot=off`, no `cma=`; the test OS's initramfs;
  nothing else on its disk.
- `warmboot-in-service`: the board's command line (`cma=208M@256M`); the test
  OS's initramfs; nothing else on its disk.
- `warmboot-linuxboot`: the board's command line; the test OS's initramfs;
  `boot/warmboot.conf` (`CAPTURE=payload`) on its disk.
- `kdump-cp`, `kdump-makedumpfile`: `crashkernel=` as Debian's kdump-tools
  sets it (kdump_tools.py), `warmboot=off`, no `cma=`; the test OS's
  initramfs with linuxboot/kdump/rc.sysinit; kexec-tools on its disk in place
  of makedumpfile; `boot/kdump/` on its disk (the same bzImage, the capture
  initramfs, its command line).

A loaded guest also gets the load disk (/dev/vdb): random data that the test
OS's warmboot-load turns into anonymous memory and page cache before the crash.

Every OS disk holds the OS's programs from Debian under sysroot/, as the
build's disk does (steps/hostbin.py). kexec-tools and makedumpfile are
Debian's dynamically linked binaries, copied with the shared libraries `ldd`
names: the very makedumpfile that filters warmboot's vmcore on the host then
runs in the capture kernel, with no second build to keep in step with
Debian's.
"""

from __future__ import annotations

import math
import os
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from warmboot.boards import Board
from warmboot.sources.cache import SourceCache
from warmboot.sources.lock import load_lock
from warmboot.sources.resolve import materialize
from warmboot.steps.hostbin import host_binary, install_dynamic, sysroot_files, sysroot_links
from warmboot.steps.initramfs import COMPRESS_ARGS, cpio_list

from .errors import GuestImageError

# How the capture kernel copies /proc/vmcore (linuxboot/kdump/init reads it).
KDUMP_COPIES = ("cp", "makedumpfile")

SETUPS = (
    "plain",
    "warmboot-in-service",
    "warmboot-linuxboot",
    *(f"kdump-{copy}" for copy in KDUMP_COPIES),
)
# LinuxBoot's settings on the disk of the LinuxBoot-capture setup (docs/crashdump.md).
LINUXBOOT_CAPTURE_CONF = 'CAPTURE="payload"\n'

MiB = 1 << 20
# linuxboot/testos/rootfs/sbin/warmboot-load: its data files' size, and the
# share of MemTotal it reads into the page cache from distinct files.
LOAD_FILE_MIB = 32
LOAD_CACHE_SHARE = 0.70 * 0.33


@dataclass(frozen=True)
class BuiltTestOs:
    """What `scons board=BOARD .` left in build/BOARD for the benchmark."""

    rom: Path
    kernel: Path  # the OS's bzImage, also kdump's capture kernel
    vmlinux: Path
    initramfs: Path  # the test OS's initramfs.cpio.lz4
    gen_init_cpio: Path  # the kernel's usr/gen_init_cpio, built by the initramfs step

    @classmethod
    def in_build(cls, build: Path) -> BuiltTestOs:
        found = cls(
            rom=build / "coreboot.rom",
            kernel=build / "testos" / "bzImage",
            vmlinux=build / "testos" / "vmlinux",
            initramfs=build / "testos-initramfs" / "initramfs.cpio.lz4",
            gen_init_cpio=build / "host" / "gen_init_cpio",
        )
        missing = [str(p) for p in vars(found).values() if not p.is_file()]
        if missing:
            raise GuestImageError(
                f"not built: {', '.join(missing)}; run `scons board={build.name} .` first"
            )
        return found


@dataclass(frozen=True)
class OsSetup:
    """One way to boot the test OS: its name, command line, initramfs, and
    other files on its disk (the capture kernel's, when kdump is its crash
    mechanism; LinuxBoot's settings)."""

    name: str
    cmdline: str
    initramfs: Path
    kdump_files: dict[str, Path]  # name under /boot/kdump -> host file
    boot_files: dict[str, Path] = field(default_factory=dict)  # name under /boot
    sysroot: dict[str, Path] = field(default_factory=dict)  # sysroot/... -> host file

    def disk_files(self, os_kernel: Path) -> dict[str, Path]:
        """Path on the OS disk -> host file."""
        files = {"boot/bzImage": os_kernel, "boot/initramfs.cpio.lz4": self.initramfs}
        files.update(self.sysroot)
        files.update({f"boot/kdump/{name}": path for name, path in self.kdump_files.items()})
        files.update({f"boot/{name}": path for name, path in self.boot_files.items()})
        return files


@dataclass(frozen=True)
class BenchImages:
    """The ROM, the crashed kernel's vmlinux, and one OS disk per setup
    (sparse; every boot gets its own copy)."""

    rom: Path
    vmlinux: Path
    disks: dict[str, Path]
    load_disk: Path | None = None  # the loaded guests' data (None: idle guests only)


def os_cmdline(stock: str, drop: tuple[str, ...], add: tuple[str, ...] = ()) -> str:
    """stock without the options named in drop (`name=...` words), plus add."""
    words = [w for w in stock.split() if w.split("=", 1)[0] not in drop]
    return " ".join([*words, *add])


def setup_cmdline(stock: str, setup: str, crashkernel: str) -> str:
    """The OS's command line under setup, from the board's test OS command line
    (crashkernel: kdump's crashkernel= value). Without warmboot, its kernel
    driver is switched off (warmboot=off), as it would otherwise take every
    panic before kdump."""
    if setup.startswith("warmboot-"):
        return stock
    if setup.startswith("kdump-"):
        return os_cmdline(
            stock,
            ("cma", "crashkernel", "warmboot"),
            (f"crashkernel={crashkernel}", "warmboot=off"),
        )
    return os_cmdline(stock, ("cma", "crashkernel", "warmboot"), ("warmboot=off",))


def pack_initramfs(
    top: Path,
    built: BuiltTestOs,
    busybox: Path,
    rootfs: Path,
    out: Path,
    links: list[tuple[str, str]] | None = None,
) -> Path:
    """skeleton + busybox + rootfs, packed and compressed like the build's initramfs
    (gen_init_cpio, then lz4 as the build packs its archives)."""
    stage = out.parent / f"{out.name}.stage"
    listing = cpio_list(
        top / "linuxboot/initramfs/skeleton.list", busybox, rootfs, [], stage, links
    )
    archive = subprocess.run(
        [str(built.gen_init_cpio), "-t", "0", "/dev/stdin"],
        input=listing.encode(),
        capture_output=True,
    )
    if archive.returncode != 0:
        raise GuestImageError(f"gen_init_cpio failed for {out}: {archive.stderr.decode()[-500:]}")
    compressed = subprocess.run(COMPRESS_ARGS, input=archive.stdout, capture_output=True)
    if compressed.returncode != 0:
        raise GuestImageError(f"lz4 failed for {out}: {compressed.stderr.decode()[-500:]}")
    out.write_bytes(compressed.stdout)
    shutil.rmtree(stage)
    return out


def make_disk(files: dict[str, Path], out: Path, size_mib: int) -> Path:
    """An ext2 disk like the build's test OS disk (mke2fs -d, 4 KiB blocks,
    an empty crash/), large enough for a vmcore of all guest RAM."""
    stage = out.with_name(f"{out.name}.root")
    if stage.exists():
        shutil.rmtree(stage)
    (stage / "crash").mkdir(parents=True)
    for name, src in files.items():
        dest = stage / name
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(src, dest)  # with its mode: sysroot/ holds programs
    try:
        return mke2fs(stage, out, size_mib)
    finally:
        shutil.rmtree(stage)


def mke2fs(tree: Path, out: Path, size_mib: int) -> Path:
    """An ext2 image of tree (4 KiB blocks, files owned by root)."""
    out.unlink(missing_ok=True)
    made = subprocess.run(
        [
            *("mke2fs", "-q", "-F", "-t", "ext2", "-b", "4096", "-E", "root_owner=0:0"),
            *("-d", str(tree), str(out), f"{size_mib}M"),
        ],
        capture_output=True,
        text=True,
    )
    if made.returncode != 0:
        raise GuestImageError(f"mke2fs {out} failed: {made.stderr.strip()}")
    return out


def busybox_binary(top: Path, board: Board) -> Path:
    """The board's pinned static busybox, from the verified source cache."""
    lock = load_lock(top / "coreboot-config" / "sources.lock.toml")
    return materialize(lock.get(board.busybox_source), SourceCache()).path


def make_load_disk(out: Path, largest_ram_mib: int) -> Path:
    """The loaded guests' data disk: LOAD_FILE_MIB files of random data
    (data-0 for anonymous memory, the rest for page cache), enough for the
    largest guest."""
    count = 2 + math.ceil(largest_ram_mib * LOAD_CACHE_SHARE / LOAD_FILE_MIB)
    stage = out.with_name(f"{out.name}.root")
    if stage.exists():
        shutil.rmtree(stage)
    stage.mkdir(parents=True)
    for i in range(count):
        with open(stage / f"data-{i}", "wb") as data:
            for _ in range(LOAD_FILE_MIB):
                data.write(os.urandom(MiB))
    try:
        return mke2fs(stage, out, count * LOAD_FILE_MIB * 11 // 10 + 16)
    finally:
        shutil.rmtree(stage, ignore_errors=True)


def kdump_setups(
    top: Path, board: Board, built: BuiltTestOs, busybox: Path, work: Path, crashkernel: str
) -> list[OsSetup]:
    """The kdump baseline: the OS initramfs that loads the capture kernel, the
    capture initramfs, and one setup per way of copying /proc/vmcore."""
    testos = board.testos
    assert testos is not None  # prepare_images refuses a board without one
    kdump = top / "linuxboot" / "kdump"
    os_root = work / "kdump-os-rootfs"
    shutil.copytree(top / testos.rootfs, os_root)
    shutil.copy(kdump / "rc.sysinit", os_root / "etc" / "rc.sysinit")
    kexec = sysroot_files(["kexec"])
    os_initramfs = pack_initramfs(
        top, built, busybox, os_root, work / "kdump-os.cpio.lz4", sysroot_links(kexec)
    )

    capture_root = work / "kdump-capture-rootfs"
    capture_root.mkdir()
    shutil.copy(kdump / "init", capture_root / "init")
    install_dynamic(host_binary("makedumpfile"), capture_root)
    capture_initramfs = pack_initramfs(
        top, built, busybox, capture_root, work / "kdump-capture.cpio.lz4"
    )
    for tree in (os_root, capture_root):
        shutil.rmtree(tree)

    capture_cmdline = (kdump / "cmdline").read_text().split()
    setups = []
    for copy in KDUMP_COPIES:
        name = f"kdump-{copy}"
        cmdline_file = work / f"{name}.capture-cmdline"
        cmdline_file.write_text(" ".join([*capture_cmdline, f"wbkdump.copy={copy}"]) + "\n")
        setups.append(
            OsSetup(
                name,
                setup_cmdline(testos.kernel.cmdline, name, crashkernel),
                os_initramfs,
                {
                    "bzImage": built.kernel,
                    "initramfs.cpio.lz4": capture_initramfs,
                    "cmdline": cmdline_file,
                },
                sysroot=kexec,
            )
        )
    return setups


def prepare_images(
    top: Path,
    board: Board,
    work: Path,
    largest_ram_mib: int,
    crashkernel: str,
    setups: tuple[str, ...] = SETUPS,
    loaded: bool = False,
) -> BenchImages:
    """Every setup's OS disk under work/, from build/BOARD (which must be
    current); with loaded, the load disk too."""
    if board.testos is None:
        raise GuestImageError(f"board {board.name} has no test OS to benchmark")
    built = BuiltTestOs.in_build(top / "build" / board.name)
    work.mkdir(parents=True, exist_ok=True)
    unknown = set(setups) - set(SETUPS)
    if unknown:
        raise GuestImageError(
            f"unknown setup(s) {', '.join(sorted(unknown))}; known: {', '.join(SETUPS)}"
        )
    stock = board.testos.kernel.cmdline
    conf = work / "warmboot-linuxboot.conf"
    conf.write_text(LINUXBOOT_CAPTURE_CONF)
    programs = sysroot_files(board.testos.host_tools)
    all_setups = [
        OsSetup(
            name,
            setup_cmdline(stock, name, crashkernel),
            built.initramfs,
            {},
            {"warmboot.conf": conf} if name == "warmboot-linuxboot" else {},
            programs,
        )
        for name in ("plain", "warmboot-in-service", "warmboot-linuxboot")
    ]
    if any(name.startswith("kdump-") for name in setups):
        all_setups += kdump_setups(top, board, built, busybox_binary(top, board), work, crashkernel)
    # Room for one vmcore of all guest RAM plus the OS files.
    size_mib = max(board.testos.disk_mib, largest_ram_mib + 1024)
    disks = {}
    for setup in all_setups:
        if setup.name not in setups:
            continue
        cmdline_file = work / f"{setup.name}.os-cmdline"
        cmdline_file.write_text(setup.cmdline + "\n")
        files = {**setup.disk_files(built.kernel), "boot/cmdline": cmdline_file}
        disks[setup.name] = make_disk(files, work / f"{setup.name}.img", size_mib)
    load_disk = make_load_disk(work / "load.img", largest_ram_mib) if loaded else None
    return BenchImages(rom=built.rom, vmlinux=built.vmlinux, disks=disks, load_disk=load_disk)
