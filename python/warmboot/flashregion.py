"""Images that fill only some regions of a board's flash (lenovo-x230: the BIOS region).

A board with a [flash] table in board.toml (boards.FlashSpec) is built for its
whole flash address space, but only the region it writes holds anything: the
Intel flash descriptor, the ME and the GbE regions stay erased (0xff) in the
image, and a lab writes only that region (flashrom --ifd -i bios, or a layout
file). Three places use these checks:

- the build (scons/flashlayout.py): the image's FMAP area is exactly the
  written region and nothing lies outside it; it writes the flashrom layout;
- the build manifest records the regions (Board.describe()), and a release
  signs the manifest's sha256;
- warmboot-lab (lab/regions.py): before a write, the verified image, its
  signed manifest, the place and the chip's own descriptor must all agree, or
  nothing is written.
"""

from __future__ import annotations

import struct
from typing import Any

from .boards import FLASH_LAYOUTS, FlashRegion, FlashSpec
from .errors import WarmbootError
from .release.fmap import parse_fmap

ERASED = 0xFF


class RegionError(WarmbootError):
    """An image, a manifest or a flash descriptor does not fit the region layout."""


def flash_spec_from_json(data: Any, what: str) -> FlashSpec:
    """The `flash` record of a build manifest's board (Board.describe()), checked."""

    def fail(problem: str) -> RegionError:
        return RegionError(f"{what}: flash: {problem}")

    if not isinstance(data, dict) or set(data) != {"layout", "write", "fmap_area", "regions"}:
        raise fail("expected layout, write, fmap_area and regions")
    if data["layout"] not in FLASH_LAYOUTS:
        raise fail(f"unknown layout {data['layout']!r}")
    regions = []
    for entry in data["regions"] if isinstance(data["regions"], list) else [None]:
        if not (
            isinstance(entry, dict)
            and set(entry) == {"name", "start", "end"}
            and isinstance(entry["name"], str)
            and all(type(entry[k]) is int for k in ("start", "end"))
            and 0 <= entry["start"] <= entry["end"]
        ):
            raise fail(f"region {entry!r} is not {{name, start, end}}")
        regions.append(FlashRegion(entry["name"], entry["start"], entry["end"]))
    write = data["write"]
    names = {r.name for r in regions}
    if (
        not isinstance(write, list)
        or len(write) != 1
        or write[0] not in names
        or not isinstance(data["fmap_area"], str)
    ):
        raise fail("write must name one of its regions, fmap_area an FMAP area")
    return FlashSpec(data["layout"], tuple(regions), tuple(write), data["fmap_area"])


def outside_written(image: bytes, spec: FlashSpec) -> tuple[int, int]:
    """(count, first offset) of the image's non-erased bytes outside the written
    regions; (0, -1) when there are none."""
    keep = sorted((spec.region(name) for name in spec.write), key=lambda r: r.start)
    spans, start = [], 0
    for region in keep:
        spans.append((start, region.start))
        start = region.end + 1
    spans.append((start, len(image)))
    count, first = 0, -1
    for begin, end in spans:
        chunk = image[begin:end]
        used = len(chunk) - chunk.count(ERASED)
        if used:
            count += used
            offset = begin + len(chunk) - len(chunk.lstrip(bytes([ERASED])))
            first = offset if first < 0 else min(first, offset)
    return count, first


def check_region_image(image: bytes, spec: FlashSpec, flash_size: int, what: str) -> None:
    """The image covers the whole flash, its FMAP area `fmap_area` is exactly the
    written region, and it holds nothing outside that region."""
    if len(image) != flash_size:
        raise RegionError(f"{what} is {len(image)} bytes, not the flash's {flash_size}")
    region = spec.region(spec.write[0])
    try:
        area = parse_fmap(image, what).area(spec.fmap_area)
    except (WarmbootError, KeyError, LookupError) as exc:
        raise RegionError(f"{what}: no FMAP area {spec.fmap_area}: {exc}") from None
    if (area.offset, area.size) != (region.start, region.size):
        raise RegionError(
            f"{what}: its FMAP area {spec.fmap_area} is {area.offset:#x}+"
            f"{area.size:#x}, not the {region.name} region "
            f"{region.start:#x}-{region.end:#x}"
        )
    count, first = outside_written(image, spec)
    if count:
        raise RegionError(
            f"{what} holds {count} non-erased bytes outside the "
            f"{region.name} region (the first at {first:#x}): written whole "
            "it would overwrite the descriptor, ME or GbE"
        )


# --- the Intel flash descriptor (6/7 series and later, as flashrom --ifd reads it) ---

DESCRIPTOR_SIGNATURE = 0x0FF0A55A
IFD_REGION_NAMES = ("fd", "bios", "me", "gbe", "pd")


def descriptor_regions(flash: bytes) -> dict[str, tuple[int, int]]:
    """The regions an Intel flash descriptor at the start of `flash` defines:
    name -> (start, end), for the five regions of 6/7-series PCHs (unused ones,
    whose limit is below their base, are left out)."""
    if len(flash) < 0x1000 or struct.unpack_from("<I", flash, 0x10)[0] != DESCRIPTOR_SIGNATURE:
        raise RegionError("the flash holds no Intel flash descriptor (no signature at 0x10)")
    flmap0 = struct.unpack_from("<I", flash, 0x14)[0]
    frba = ((flmap0 >> 16) & 0xFF) << 4
    if frba + 4 * len(IFD_REGION_NAMES) > 0x1000:
        raise RegionError(f"flash descriptor: region section at {frba:#x} is out of range")
    regions = {}
    for index, name in enumerate(IFD_REGION_NAMES):
        flreg = struct.unpack_from("<I", flash, frba + 4 * index)[0]
        base, limit = (flreg & 0x7FFF) << 12, (((flreg >> 16) & 0x7FFF) << 12) | 0xFFF
        if limit > base:
            regions[name] = (base, limit)
    return regions
