"""coreboot's flash map (FMAP): find it in a ROM, parse it, encode it.

The layout follows coreboot's util/cbfstool/flashmap/fmap.h, little-endian
and packed:

    struct fmap      { u8 signature[8] = "__FMAP__"; u8 ver_major; u8 ver_minor;
                       u64 base; u32 size; u8 name[32]; u16 nareas;
                       struct fmap_area areas[nareas]; }          56 bytes + areas
    struct fmap_area { u32 offset; u32 size; u8 name[32]; u16 flags; }   42 bytes

Area offsets are offsets into the flash image. The header is found the way
coreboot's is_valid_fmap() judges one (signature, major version 1, a size
that holds the areas, a printable NUL-terminated name), because strings in
coreboot's code also contain "__FMAP__".
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from .errors import FmapError, FmapNotFoundError

FMAP_SIGNATURE = b"__FMAP__"
FMAP_VER_MAJOR = 1
FMAP_VER_MINOR = 1
FMAP_STRLEN = 32
_HEADER = struct.Struct("<8sBBQI32sH")
_AREA = struct.Struct("<II32sH")


@dataclass(frozen=True)
class FmapArea:
    """One region of the flash: a name, where it starts and how long it is."""

    name: str
    offset: int
    size: int
    flags: int = 0


@dataclass(frozen=True)
class Fmap:
    """A parsed flash map; `offset` is where the structure itself lies in the ROM."""

    offset: int
    base: int
    size: int
    name: str
    areas: tuple[FmapArea, ...]
    ver_major: int = FMAP_VER_MAJOR
    ver_minor: int = FMAP_VER_MINOR

    def area(self, name: str) -> FmapArea:
        for area in self.areas:
            if area.name == name:
                return area
        raise FmapError(f"FMAP has no region named {name!r}")


def _fmap_string(raw: bytes) -> str | None:
    """The NUL-terminated, printable, spaceless name in `raw`, or None if invalid."""
    end = raw.find(b"\0")
    if end < 0:
        return None  # 32 characters leave no room for the terminator
    text = raw[:end]
    if not all(0x21 <= byte <= 0x7E for byte in text):
        return None
    return text.decode("ascii")


def _valid_header_at(image: bytes, offset: int) -> bool:
    if offset + _HEADER.size > len(image):
        return False
    _sig, major, _minor, _base, size, name, nareas = _HEADER.unpack_from(image, offset)
    if major != FMAP_VER_MAJOR:
        return False
    total = _HEADER.size + nareas * _AREA.size
    if size < total or offset + total > len(image):
        return False
    return _fmap_string(name) is not None


def find_fmap_offsets(image: bytes) -> list[int]:
    """Every offset in `image` where a valid FMAP header starts."""
    offsets = []
    position = image.find(FMAP_SIGNATURE)
    while position >= 0:
        if _valid_header_at(image, position):
            offsets.append(position)
        position = image.find(FMAP_SIGNATURE, position + 1)
    return offsets


def parse_fmap(image: bytes, what: str = "image") -> Fmap:
    """Find and parse the single FMAP in `image`, checking every area fits in it."""
    offsets = find_fmap_offsets(image)
    if not offsets:
        raise FmapNotFoundError(
            f"{what} has no FMAP (no '__FMAP__' signature with a valid header); "
            "is it a coreboot image built with a flash map?"
        )
    if len(offsets) > 1:
        # coreboot's binary and linear searches could pick different ones.
        listed = ", ".join(f"{offset:#x}" for offset in offsets)
        raise FmapError(
            f"{what} has {len(offsets)} valid FMAP headers (at {listed}); "
            "which one the firmware uses is ambiguous"
        )
    offset = offsets[0]
    _sig, major, minor, base, size, raw_name, nareas = _HEADER.unpack_from(image, offset)
    areas = []
    names: set[str] = set()
    for index in range(nareas):
        area_offset, area_size, raw_area_name, flags = _AREA.unpack_from(
            image, offset + _HEADER.size + index * _AREA.size
        )
        name = _fmap_string(raw_area_name)
        if name is None:
            raise FmapError(f"{what}: FMAP area {index} has no valid NUL-terminated name")
        if name in names:
            raise FmapError(f"{what}: FMAP names region {name!r} twice")
        if area_offset + area_size > len(image):
            raise FmapError(
                f"{what}: FMAP region {name!r} ({area_offset:#x}+{area_size:#x}) "
                f"extends beyond the image ({len(image):#x} bytes)"
            )
        names.add(name)
        areas.append(FmapArea(name=name, offset=area_offset, size=area_size, flags=flags))
    return Fmap(
        offset=offset,
        base=base,
        size=size,
        name=_fmap_string(raw_name) or "",
        areas=tuple(areas),
        ver_major=major,
        ver_minor=minor,
    )


def _encode_name(name: str) -> bytes:
    raw = name.encode("ascii")
    if len(raw) >= FMAP_STRLEN or _fmap_string(raw + b"\0") is None:
        raise FmapError(f"FMAP name {name!r} must be 1-31 printable, spaceless characters")
    return raw


def encode_fmap(fmap: Fmap) -> bytes:
    """The bytes of `fmap` as stored in a ROM (struct fmap followed by its areas)."""
    header = _HEADER.pack(
        FMAP_SIGNATURE,
        fmap.ver_major,
        fmap.ver_minor,
        fmap.base,
        fmap.size,
        _encode_name(fmap.name),
        len(fmap.areas),
    )
    areas = b"".join(
        _AREA.pack(area.offset, area.size, _encode_name(area.name), area.flags)
        for area in fmap.areas
    )
    return header + areas
