"""Boards are data: coreboot-config/boards/<board>/board.toml plus a defconfig fragment.

Generic code (the SCons tools, the QEMU runner, the tests) reads a Board and
never names a board itself. Every board fills the same contract below.
"""
from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path

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
    devicetree: Path | None = None    # fit: the board's DTS, compiled into the FIT


@dataclass(frozen=True)
class LinuxSpec:
    arch: str
    config: tuple[Path, ...]
    image: str
    target: str
    cross_compile: str
    cmdline: str


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
    rootfs: str           # relative to the checkout
    disk_mib: int


@dataclass(frozen=True)
class FlashRegion:
    name: str
    start: int     # first byte, from the start of the flash
    end: int       # last byte (inclusive, as flashrom layouts and Intel descriptors write it)

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

    layout: str                          # "ifd": the regions come from the chip's descriptor
    regions: tuple[FlashRegion, ...]
    write: tuple[str, ...]
    fmap_area: str

    def region(self, name: str) -> FlashRegion:
        return next(r for r in self.regions if r.name == name)

    def layout_text(self) -> str:
        """The regions as a flashrom layout file (`flashrom -l FILE -i bios`)."""
        return "".join(f"{r.start:08x}:{r.end:08x} {r.name}\n"
                       for r in sorted(self.regions, key=lambda r: r.start))

    def as_json(self) -> dict:
        return {"layout": self.layout, "write": list(self.write), "fmap_area": self.fmap_area,
                "regions": [r.as_json() for r in self.regions]}


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
    qemu: QemuSpec | None          # None: no QEMU machine models the board (lenovo-x230)
    testos: TestOsSpec | None = None
    payload: PayloadSpec = PayloadSpec()
    flash: FlashSpec | None = None  # None: the image is the whole flash

    def qemu_command(self, rom: Path, extra: tuple[str, ...] = (),
                     memory: str | None = None) -> list[str]:
        """The QEMU command line that boots rom on this board (serial not included);
        memory overrides the board's RAM size."""
        q = self.qemu
        if q is None:
            raise BoardError(f"board {self.name} cannot boot in QEMU: no QEMU machine models it")
        firmware = [a.replace("{rom}", str(rom)) for a in q.firmware]
        return [q.system, "-M", q.machine, "-m", memory or q.memory, "-smp", str(q.smp),
                *firmware, *q.args, *extra]

    def disk_args(self, image: Path) -> tuple[str, ...]:
        """QEMU arguments that attach a raw disk image as the OS disk (/dev/vda)."""
        return tuple(a.replace("{disk}", str(image)) for a in self.qemu.disk)

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


def _get(table: dict, key: str, where: str, kind=str):
    if key not in table:
        raise BoardError(f"{where}: missing {key!r}")
    value = table[key]
    if not isinstance(value, kind):
        raise BoardError(f"{where}: {key!r} must be {kind.__name__}, not {type(value).__name__}")
    return value


def _flash(data: dict, where: str, rom_size: int) -> FlashSpec:
    """The [flash] table: regions inside the ROM, not overlapping, the written ones named."""
    fw = where + " [flash]"
    layout = _get(data, "layout", fw)
    if layout not in FLASH_LAYOUTS:
        raise BoardError(f"{fw}: layout {layout!r} is not one of {', '.join(FLASH_LAYOUTS)}")
    regions = []
    for index, entry in enumerate(_get(data, "regions", fw, list)):
        rw = f"{fw} regions[{index}]"
        if not isinstance(entry, dict):
            raise BoardError(f"{rw}: expected a table")
        region = FlashRegion(_get(entry, "name", rw), _get(entry, "start", rw, int),
                             _get(entry, "end", rw, int))
        if not 0 <= region.start <= region.end < rom_size:
            raise BoardError(f"{rw}: {region.start:#x}-{region.end:#x} is not inside the "
                             f"{rom_size:#x}-byte flash")
        regions.append(region)
    ordered = sorted(regions, key=lambda r: r.start)
    for left, right in zip(ordered, ordered[1:]):
        if right.start <= left.end:
            raise BoardError(f"{fw}: regions {left.name} and {right.name} overlap")
    names = [r.name for r in regions]
    if len(set(names)) != len(names):
        raise BoardError(f"{fw}: a region name appears twice")
    write = tuple(_get(data, "write", fw, list))
    if not write or any(name not in names for name in write):
        raise BoardError(f"{fw}: write must name regions of the list ({', '.join(names)})")
    if len(write) != 1:
        raise BoardError(f"{fw}: write names one region (the one fmap_area fills)")
    return FlashSpec(layout, tuple(regions), write, _get(data, "fmap_area", fw))


def load_board(top: Path, name: str) -> Board:
    """Read and check a board description; unknown boards list the known ones."""
    top = Path(top)
    directory = boards_dir(top) / name
    path = directory / "board.toml"
    if not name or "/" in name or not path.is_file():
        known = ", ".join(known_boards(top)) or "(none)"
        raise BoardError(f"unknown board {name!r}; known boards: {known}")
    try:
        data = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise BoardError(f"{path}: not valid TOML: {exc}") from None
    where = str(path)
    arch = _get(data, "arch", where)
    if arch not in ARCHES:
        raise BoardError(f"{where}: arch {arch!r} is not one of {', '.join(ARCHES)}")
    handoff = _get(data, "handoff", where)
    if handoff not in HANDOFF_FLAVOURS:
        raise BoardError(f"{where}: handoff {handoff!r} is not one of {', '.join(HANDOFF_FLAVOURS)}")
    cb = _get(data, "coreboot", where, dict)
    lx = _get(data, "linux", where, dict)
    ir = _get(data, "initramfs", where, dict)
    con = _get(data, "console", where, dict)
    qm = _get(data, "qemu", where, dict) if "qemu" in data else None
    defconfig = directory / _get(cb, "defconfig", where + " [coreboot]")
    if not defconfig.is_file():
        raise BoardError(f"{where}: defconfig fragment {defconfig} does not exist")
    fragments = tuple(top / p for p in _get(lx, "config", where + " [linux]", list))
    for frag in fragments:
        if not frag.is_file():
            raise BoardError(f"{where}: kernel config fragment {frag} does not exist")
    payload = PayloadSpec()
    if "payload" in data:
        pl = _get(data, "payload", where, dict)
        pw = where + " [payload]"
        fmt = _get(pl, "format", pw)
        if fmt not in PAYLOAD_FORMATS:
            raise BoardError(f"{pw}: format {fmt!r} is not one of {', '.join(PAYLOAD_FORMATS)}")
        dts = None
        if fmt == "fit":
            dts = directory / _get(pl, "devicetree", pw)
            if not dts.is_file():
                raise BoardError(f"{pw}: device tree source {dts} does not exist")
        payload = PayloadSpec(format=fmt, devicetree=dts)
    make_vars = tuple(cb.get("make_vars", []))
    for var in make_vars:
        if not isinstance(var, str) or "=" not in var:
            raise BoardError(f"{where} [coreboot]: make_vars entry {var!r} is not NAME=VALUE")
    if bool(cb.get("bl31_source")) != bool(cb.get("bl31_tree")):
        raise BoardError(f"{where} [coreboot]: bl31_source and bl31_tree go together")
    testos = None
    if "testos" in data:
        to = _get(data, "testos", where, dict)
        tw = where + " [testos]"
        t_fragments = tuple(top / p for p in _get(to, "config", tw, list))
        for frag in t_fragments:
            if not frag.is_file():
                raise BoardError(f"{where}: kernel config fragment {frag} does not exist")
        testos = TestOsSpec(
            kernel=LinuxSpec(arch=_get(lx, "arch", where + " [linux]"), config=t_fragments,
                             image=_get(lx, "image", where + " [linux]"),
                             target=_get(lx, "target", where + " [linux]"),
                             cross_compile=lx.get("cross_compile", ""),
                             cmdline=_get(to, "cmdline", tw)),
            rootfs=_get(to, "rootfs", tw),
            disk_mib=_get(to, "disk_mib", tw, int),
        )
    return Board(
        name=name,
        testos=testos,
        payload=payload,
        directory=directory,
        description=data.get("description", name),
        arch=arch,
        handoff=handoff,
        coreboot=CorebootSpec(
            mainboard=_get(cb, "mainboard", where + " [coreboot]"),
            rom_size_kib=_get(cb, "rom_size_kib", where + " [coreboot]", int),
            defconfig=defconfig,
            bl31_source=cb.get("bl31_source", ""),
            bl31_tree=cb.get("bl31_tree", ""),
            make_vars=make_vars,
        ),
        linux=LinuxSpec(
            arch=_get(lx, "arch", where + " [linux]"),
            config=fragments,
            image=_get(lx, "image", where + " [linux]"),
            target=_get(lx, "target", where + " [linux]"),
            cross_compile=lx.get("cross_compile", ""),
            cmdline=_get(lx, "cmdline", where + " [linux]"),
        ),
        busybox_source=_get(ir, "busybox", where + " [initramfs]"),
        console_device=_get(con, "device", where + " [console]"),
        console_baud=_get(con, "baud", where + " [console]", int),
        qemu=None if qm is None else QemuSpec(
            system=_get(qm, "system", where + " [qemu]"),
            machine=_get(qm, "machine", where + " [qemu]"),
            memory=_get(qm, "memory", where + " [qemu]"),
            smp=_get(qm, "smp", where + " [qemu]", int),
            firmware=tuple(_get(qm, "firmware", where + " [qemu]", list)),
            args=tuple(qm.get("args", [])),
            **({"disk": tuple(_get(qm, "disk", where + " [qemu]", list))} if "disk" in qm
               else {}),
        ),
        flash=_flash(_get(data, "flash", where, dict), where,
                     _get(cb, "rom_size_kib", where + " [coreboot]", int) * 1024)
        if "flash" in data else None,
    )
