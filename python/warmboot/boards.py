"""Boards are data: coreboot-config/boards/<board>/board.toml plus a defconfig fragment.

Generic code (the SCons tools, the QEMU runner, the tests) reads a Board and
never names a board itself. Every board fills the same contract below.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from pathlib import Path

from . import tomlschema as tp
from .errors import WarmbootError

HANDOFF_FLAVOURS = ("coreboot-table", "device-tree", "efi")
ARCHES = ("x86_64", "aarch64")
# How the LinuxBoot payload goes into CBFS: a bzImage with its initramfs and
# command line (cbfstool add-payload -I -C, x86), or a FIT with a device tree
# (arm64, whose coreboot 4.15 boots Linux only from a FIT).
PAYLOAD_FORMATS = ("bzimage", "fit")


class BoardError(WarmbootError):
    """A board is unknown or its description is malformed."""


@dataclass(frozen=True)
class CorebootSpec:
    mainboard: str
    rom_size_kib: int
    defconfig: Path
    # A pinned source copied into the coreboot tree before the build, and
    # where: TF-A at 3rdparty/arm-trusted-firmware, which coreboot's arm64
    # build turns into BL31. Empty when the board needs none.
    bl31_source: str = ""
    bl31_tree: str = ""
    # Extra `make` variables for the coreboot build (NAME=VALUE).
    make_vars: tuple[str, ...] = ()


@dataclass(frozen=True)
class PayloadSpec:
    format: str = "bzimage"
    devicetree: Path | None = None  # fit: the board's DTS, compiled into the FIT


@dataclass(frozen=True)
class LinuxSpec:
    arch: str
    config: tuple[Path, ...]
    image: str
    target: str
    cross_compile: str
    cmdline: str
    # Kernel patch files, applied in this order before the build (test OS only).
    patches: tuple[Path, ...] = ()


@dataclass(frozen=True)
class QemuSpec:
    system: str
    machine: str
    memory: str
    smp: int
    firmware: tuple[str, ...]
    args: tuple[str, ...]
    # How a raw disk image ({disk}) is attached: a virtio disk on PCI (q35) or
    # on virtio-mmio (virt, whose `if=virtio` would pick PCI).
    disk: tuple[str, ...] = ("-drive", "file={disk},if=virtio,format=raw")


@dataclass(frozen=True)
class TestOsSpec:
    """The OS the end-to-end tests boot through LinuxBoot and crash."""

    kernel: LinuxSpec
    rootfs: str  # relative to the checkout
    disk_mib: int
    host_tools: tuple[str, ...] = ()  # host programs the OS runs from its disk (sysroot/)
    # Programs of another architecture than the host's, by their path in the
    # pinned Debian packages sysroot_sources names (steps/debroot.py).
    sysroot_programs: tuple[str, ...] = ()
    sysroot_sources: tuple[str, ...] = ()


@dataclass(frozen=True)
class FlashRegion:
    name: str
    start: int  # first byte, from the start of the flash
    end: int  # last byte (inclusive, as flashrom layouts and Intel descriptors write it)

    @property
    def size(self) -> int:
        return self.end - self.start + 1

    def as_json(self) -> dict:
        return {"name": self.name, "start": self.start, "end": self.end}


@dataclass(frozen=True)
class FlashSpec:
    """A board whose image fills only some regions of its flash ([flash] in board.toml):
    the regions of the flash (as its Intel descriptor lays them out), the ones warmboot
    writes, and the coreboot FMAP area that must be exactly the written region."""

    layout: str  # "ifd": the regions come from the chip's descriptor
    regions: tuple[FlashRegion, ...]
    write: tuple[str, ...]
    fmap_area: str

    def region(self, name: str) -> FlashRegion:
        return next(r for r in self.regions if r.name == name)

    def layout_text(self) -> str:
        """The regions as a flashrom layout file (`flashrom -l FILE -i bios`)."""
        return "".join(
            f"{r.start:08x}:{r.end:08x} {r.name}\n"
            for r in sorted(self.regions, key=lambda r: r.start)
        )

    def as_json(self) -> dict:
        return {
            "layout": self.layout,
            "write": list(self.write),
            "fmap_area": self.fmap_area,
            "regions": [r.as_json() for r in self.regions],
        }


FLASH_LAYOUTS = ("ifd",)


@dataclass(frozen=True)
class Board:
    name: str
    directory: Path
    description: str
    arch: str
    handoff: str
    coreboot: CorebootSpec
    linux: LinuxSpec
    busybox_source: str
    console_device: str
    console_baud: int
    qemu: QemuSpec | None  # None: no QEMU machine models the board (lenovo-x230)
    testos: TestOsSpec | None = None
    payload: PayloadSpec = PayloadSpec()
    flash: FlashSpec | None = None  # None: the image is the whole flash

    def qemu_command(
        self, rom: Path, extra: tuple[str, ...] = (), memory: str | None = None
    ) -> list[str]:
        """The QEMU command line that boots rom on this board (serial not included);
        memory overrides the board's RAM size."""
        q = self._machine()
        firmware = [a.replace("{rom}", str(rom)) for a in q.firmware]
        return [
            q.system,
            "-M",
            q.machine,
            "-m",
            memory or q.memory,
            "-smp",
            str(q.smp),
            *firmware,
            *q.args,
            *extra,
        ]

    def disk_args(self, image: Path) -> tuple[str, ...]:
        """QEMU arguments that attach a raw disk image as the OS disk (/dev/vda)."""
        return tuple(a.replace("{disk}", str(image)) for a in self._machine().disk)

    def _machine(self) -> QemuSpec:
        if self.qemu is None:
            raise BoardError(f"board {self.name} cannot boot in QEMU: no QEMU machine models it")
        return self.qemu

    def describe(self) -> dict:
        described = {
            "name": self.name,
            "description": self.description,
            "arch": self.arch,
            "handoff": self.handoff,
            "coreboot_mainboard": self.coreboot.mainboard,
            "rom_size_kib": self.coreboot.rom_size_kib,
            "qemu_machine": self.qemu.machine if self.qemu else None,
        }
        if self.flash:
            # In the build manifest, whose sha256 a release signs: what a lab may write.
            described["flash"] = self.flash.as_json()
        return described


def boards_dir(top: Path) -> Path:
    return Path(top) / "coreboot-config" / "boards"


def known_boards(top: Path) -> list[str]:
    root = boards_dir(top)
    if not root.is_dir():
        return []
    return sorted(p.name for p in root.iterdir() if (p / "board.toml").is_file())


_STRINGS = tp.List(str)

# board.toml, key by key; what a schema cannot say is checked in load_board.
BOARD_SCHEMA = tp.Table(
    {
        "description": tp.Key(str),
        "arch": str,  # one of ARCHES
        "handoff": str,  # one of HANDOFF_FLAVOURS
        "coreboot": tp.Table(
            {
                "mainboard": str,
                "rom_size_kib": int,
                "defconfig": str,  # relative to the board's directory
                "bl31_source": tp.Key(str, ""),
                "bl31_tree": tp.Key(str, ""),
                "make_vars": tp.Key(_STRINGS, ()),
            }
        ),
        "payload": tp.Key(
            tp.Table(
                {
                    "format": str,  # one of PAYLOAD_FORMATS
                    "devicetree": tp.Key(str),  # fit: relative to the board's directory
                }
            )
        ),
        "linux": tp.Table(
            {
                "arch": str,
                "config": _STRINGS,  # relative to the checkout
                "image": str,
                "target": str,
                "cross_compile": tp.Key(str, ""),
                "cmdline": str,
                "patches": tp.Key(_STRINGS, ()),  # patch files or directories of them
            }
        ),
        "initramfs": tp.Table({"busybox": str}),
        "console": tp.Table({"device": str, "baud": int}),
        # Absent for a board no QEMU machine models (lenovo-x230): it builds, never boots here.
        "qemu": tp.Key(
            tp.Table(
                {
                    "system": str,
                    "machine": str,
                    "memory": str,
                    "smp": int,
                    "firmware": _STRINGS,
                    "args": tp.Key(_STRINGS, ()),
                    "disk": tp.Key(_STRINGS),
                }
            )
        ),
        # Present for a board whose image fills only some regions of its flash (FlashSpec).
        "flash": tp.Key(
            tp.Table(
                {
                    "layout": str,  # one of FLASH_LAYOUTS
                    "regions": tp.List(
                        tp.Table(
                            {
                                "name": str,
                                "start": int,  # first byte
                                "end": int,  # last byte, inclusive
                            }
                        )
                    ),
                    "write": _STRINGS,  # exactly one name of regions
                    "fmap_area": str,
                }
            )
        ),
        "testos": tp.Key(
            tp.Table(
                {
                    "config": _STRINGS,  # relative to the checkout
                    "cmdline": str,
                    "rootfs": str,  # relative to the checkout
                    "disk_mib": int,
                    "patches": tp.Key(_STRINGS, ()),  # patch files or directories of them
                    "host_tools": tp.Key(_STRINGS, ()),  # host programs the OS runs from its disk
                    "sysroot_programs": tp.Key(_STRINGS, ()),  # paths in sysroot_sources' packages
                    "sysroot_sources": tp.Key(_STRINGS, ()),  # lock entries: Debian packages
                }
            )
        ),
    }
)


def _one_of(table: tp.Section, key: str, choices: tuple[str, ...]) -> str:
    value = table[key]
    if value not in choices:
        raise table.error(key, f"{value!r} is not one of {', '.join(choices)}")
    return value


def _fragments(table: tp.Section, top: Path) -> tuple[Path, ...]:
    fragments = tuple(top / p for p in table["config"])
    for frag in fragments:
        if not frag.is_file():
            raise table.error("config", f"kernel config fragment {frag} does not exist")
    return fragments


def _patches(table: tp.Section, top: Path) -> tuple[Path, ...]:
    """Each entry a patch file, or a directory whose *.patch files apply in name order."""
    patches: list[Path] = []
    for entry in table["patches"]:
        path = top / entry
        if path.is_dir():
            found = sorted(path.glob("*.patch"), key=lambda p: p.name)
            if not found:
                raise table.error("patches", f"{path} holds no *.patch files")
            patches.extend(found)
        elif path.is_file():
            patches.append(path)
        else:
            raise table.error("patches", f"{path} does not exist")
    return tuple(patches)


def _linux(
    lx: tp.Section, config: tuple[Path, ...], cmdline: str, patches: tuple[Path, ...] = ()
) -> LinuxSpec:
    return LinuxSpec(
        arch=lx["arch"],
        config=config,
        image=lx["image"],
        target=lx["target"],
        cross_compile=lx["cross_compile"],
        cmdline=cmdline,
        patches=patches,
    )


def _flash(fl: tp.Section, rom_size: int) -> FlashSpec:
    """The [flash] table: regions inside the ROM, not overlapping, the written ones named."""
    layout = _one_of(fl, "layout", FLASH_LAYOUTS)
    regions = []
    for entry in fl["regions"]:
        region = FlashRegion(entry["name"], entry["start"], entry["end"])
        if not 0 <= region.start <= region.end < rom_size:
            key = "start" if not 0 <= region.start < rom_size else "end"
            raise entry.error(
                key, f"{region.start:#x}-{region.end:#x} is not inside the {rom_size:#x}-byte flash"
            )
        regions.append(region)
    ordered = sorted(regions, key=lambda r: r.start)
    for left, right in itertools.pairwise(ordered):
        if right.start <= left.end:
            raise fl.error("regions", f"{left.name} and {right.name} overlap")
    names = [r.name for r in regions]
    for name in names:
        if names.count(name) > 1:
            raise fl.error("regions", f"the name {name!r} appears twice")
    write = fl["write"]
    if not write or any(name not in names for name in write):
        raise fl.error("write", f"must name regions of the list ({', '.join(names)})")
    if len(write) != 1:
        raise fl.error("write", "names one region (the one fmap_area fills)")
    return FlashSpec(layout, tuple(regions), write, fl["fmap_area"])


def load_board(top: Path, name: str) -> Board:
    """Read and check a board description; unknown boards list the known ones."""
    top = Path(top)
    directory = boards_dir(top) / name
    path = directory / "board.toml"
    if not name or "/" in name or not path.is_file():
        known = ", ".join(known_boards(top)) or "(none)"
        raise BoardError(f"unknown board {name!r}; known boards: {known}")
    data = tp.parse(path.read_text(), path, BOARD_SCHEMA, BoardError)
    cb, lx, qm = data["coreboot"], data["linux"], data["qemu"]
    arch = _one_of(data, "arch", ARCHES)
    handoff = _one_of(data, "handoff", HANDOFF_FLAVOURS)
    defconfig = directory / cb["defconfig"]
    if not defconfig.is_file():
        raise cb.error("defconfig", f"defconfig fragment {defconfig} does not exist")
    fragments = _fragments(lx, top)
    payload = PayloadSpec()
    if (pl := data["payload"]) is not None:
        fmt = _one_of(pl, "format", PAYLOAD_FORMATS)
        dts = None
        if fmt == "fit":
            if pl["devicetree"] is None:
                raise pl.error("devicetree", 'missing (format = "fit" needs it)')
            dts = directory / pl["devicetree"]
            if not dts.is_file():
                raise pl.error("devicetree", f"device tree source {dts} does not exist")
        payload = PayloadSpec(format=fmt, devicetree=dts)
    for var in cb["make_vars"]:
        if "=" not in var:
            raise cb.error("make_vars", f"entry {var!r} is not NAME=VALUE")
    if bool(cb["bl31_source"]) != bool(cb["bl31_tree"]):
        raise cb.error(None, "bl31_source and bl31_tree go together")
    flash = None
    if (fl := data["flash"]) is not None:
        flash = _flash(fl, cb["rom_size_kib"] * 1024)
    testos = None
    if (to := data["testos"]) is not None:
        if bool(to["sysroot_programs"]) != bool(to["sysroot_sources"]):
            raise to.error(None, "sysroot_programs and sysroot_sources go together")
        for program in to["sysroot_programs"]:
            if not program.startswith("/"):
                raise to.error("sysroot_programs", f"{program!r} is not an absolute path")
        testos = TestOsSpec(
            kernel=_linux(lx, _fragments(to, top), to["cmdline"], _patches(to, top)),
            rootfs=to["rootfs"],
            disk_mib=to["disk_mib"],
            host_tools=to["host_tools"],
            sysroot_programs=to["sysroot_programs"],
            sysroot_sources=to["sysroot_sources"],
        )
    return Board(
        name=name,
        testos=testos,
        payload=payload,
        directory=directory,
        description=data["description"] if data["description"] is not None else name,
        arch=arch,
        handoff=handoff,
        coreboot=CorebootSpec(
            mainboard=cb["mainboard"],
            rom_size_kib=cb["rom_size_kib"],
            defconfig=defconfig,
            bl31_source=cb["bl31_source"],
            bl31_tree=cb["bl31_tree"],
            make_vars=cb["make_vars"],
        ),
        linux=_linux(lx, fragments, lx["cmdline"], _patches(lx, top)),
        busybox_source=data["initramfs"]["busybox"],
        console_device=data["console"]["device"],
        console_baud=data["console"]["baud"],
        qemu=None
        if qm is None
        else QemuSpec(
            system=qm["system"],
            machine=qm["machine"],
            memory=qm["memory"],
            smp=qm["smp"],
            firmware=qm["firmware"],
            args=qm["args"],
            **({"disk": qm["disk"]} if qm["disk"] is not None else {}),
        ),
        flash=flash,
    )
