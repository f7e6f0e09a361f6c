"""Region writes: put a region-only release (lenovo-x230: the BIOS region) on a chip
whose other regions (descriptor, ME, GbE) belong to the board and are never written.

Before anything is written (the flow's `regions` step, after the backup), the
release, the place and the chip must agree, or the run is REFUSED:

- the signed build manifest (its sha256 is in the signed release) records the
  board's flash regions and the one the image fills (`board.flash`);
- the place writes exactly that region (`layout = "ifd"`, `regions = ["bios"]`),
  never the whole chip;
- the image is erased (0xff) everywhere outside that region, and its FMAP area
  is exactly the region;
- the chip's own Intel flash descriptor (read from the backup) puts the region
  where the image has it: flashrom --ifd takes its boundaries from the chip, so
  a board with another descriptor (a me_cleaner-shrunk ME, a bigger BIOS
  region) would get the image's bytes at the wrong offsets.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from .. import flashregion
from ..boards import FlashSpec
from ..errors import WarmbootError
from ..fsutil import PathError, read_capped_nofollow
from ..release import VerifiedRelease
from ..release.layout import MANIFEST_FILE, MAX_MANIFEST_BYTES
from .config import Place
from .errors import RegionError


@dataclass(frozen=True)
class RegionPlan:
    spec: FlashSpec

    @property
    def region(self):
        return self.spec.region(self.spec.write[0])

    def as_record(self) -> dict[str, Any]:
        region = self.region
        return {
            "layout": self.spec.layout,
            "region": region.name,
            "start": region.start,
            "end": region.end,
            "regions": [r.as_json() for r in self.spec.regions],
        }


def signed_flash_spec(verified: VerifiedRelease) -> FlashSpec | None:
    """The manifest's `board.flash`, from the bytes whose sha256 the release signs."""
    path = verified.release_dir / MANIFEST_FILE
    try:
        data = read_capped_nofollow(path, MAX_MANIFEST_BYTES)
    except PathError as exc:
        raise RegionError(f"cannot read the release manifest {exc}") from None
    if hashlib.sha256(data).hexdigest() != verified.payload.manifest.sha256:
        raise RegionError(f"the release manifest {path} changed since it was verified")
    try:
        manifest = json.loads(data)
        board = manifest["board"] if isinstance(manifest, dict) else None
    except (ValueError, KeyError):
        return None  # not a warmboot build manifest: a whole-chip image
    if not isinstance(board, dict) or "flash" not in board:
        return None
    try:
        return flashregion.flash_spec_from_json(board["flash"], "the signed release manifest")
    except WarmbootError as exc:
        raise RegionError(str(exc)) from None


def plan_region_write(verified: VerifiedRelease, place: Place) -> RegionPlan | None:
    """None for a whole-chip release; else the region to write, after checking the
    place and the image (RegionError: nothing may be written)."""
    spec = signed_flash_spec(verified)
    settings = place.flashrom
    if spec is None:
        return None
    region = spec.region(spec.write[0])
    what = (
        f"release {verified.payload.version} fills only the {region.name} region "
        f"({region.start:#x}-{region.end:#x}) of the {verified.payload.board.flash_size}"
        "-byte flash (its signed manifest says so)"
    )
    others = ", ".join(r.name for r in spec.regions if r.name != region.name)
    if settings.layout == "full":
        raise RegionError(
            f"{what}, but place {place.name} writes the whole chip, which would "
            f"erase the board's {others}: "
            f'set layout = "{spec.layout}" and regions = ["{region.name}"] in its '
            "[flashrom] table"
        )
    if settings.layout != spec.layout or tuple(settings.regions) != spec.write:
        raise RegionError(
            f"{what}, but place {place.name} writes layout {settings.layout!r} "
            f"regions {list(settings.regions)}: it must write layout "
            f'"{spec.layout}" regions ["{region.name}"] only'
        )
    try:
        flashregion.check_region_image(
            verified.image, spec, verified.payload.board.flash_size, "the release image"
        )
    except WarmbootError as exc:
        raise RegionError(str(exc)) from None
    return RegionPlan(spec)


def check_chip_descriptor(plan: RegionPlan, flash: bytes, place: str) -> dict[str, Any]:
    """The chip's descriptor (from the backup) must place the region where the image has
    it; returns the descriptor's regions for the record."""
    try:
        found = flashregion.descriptor_regions(flash)
    except WarmbootError as exc:
        raise RegionError(
            f"place {place}: {exc}: flashrom --ifd could not find the {plan.region.name} region"
        ) from None
    region = plan.region
    have = found.get(region.name)
    if have != (region.start, region.end):
        where = "none" if have is None else f"{have[0]:#x}-{have[1]:#x}"
        raise RegionError(
            f"place {place}: the chip's flash descriptor puts the "
            f"{region.name} region at {where}, the image at {region.start:#x}-"
            f"{region.end:#x}: written by --ifd, the image would land at the "
            "wrong offsets (another descriptor, e.g. a shrunk ME region)"
        )
    return {name: {"start": start, "end": end} for name, (start, end) in found.items()}
