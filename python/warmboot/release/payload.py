"""The release payload: what a signed release says about its image.

    {"spec_version": 1,
     "board": {"name": BOARD, "flash_size": N,
               "fmap": {"offset": N, "base": N, "size": N, "name": S,
                        "ver_major": 1, "ver_minor": N,
                        "areas": [{"name": S, "offset": N, "size": N, "flags": N}, ...]}},
     "version": "MAJOR.MINOR.PATCH", "security_version": N,
     "expires": "YYYY-MM-DDTHH:MM:SSZ",
     "image": {"length": N, "sha256": HEX, "sha512": HEX,
               "regions": {AREA_NAME: SHA256_HEX, ...}},
     "manifest": {"length": N, "sha256": HEX}}

The payload is encoded once, canonically (sorted keys, no whitespace), and
those bytes are what is signed and stored; verifiers parse them but never
re-encode them.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from .encoding import (
    SchemaReader,
    canonical_json,
    format_timestamp,
    parse_canonical_json,
    strict_integer,
)
from .errors import PayloadFormatError
from .fmap import Fmap, FmapArea, parse_fmap

RELEASE_SPEC_VERSION = 1
# Board names become directory names (dist/<board>/<version>/).
_BOARD_RE = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")
_VERSION_RE = re.compile(r"(0|[1-9][0-9]{0,8})\.(0|[1-9][0-9]{0,8})\.(0|[1-9][0-9]{0,8})")
MAX_SECURITY_VERSION = 2**32 - 1
MAX_FMAP_AREAS = 256


@dataclass(frozen=True, order=True)
class ReleaseVersion:
    """MAJOR.MINOR.PATCH, compared numerically component by component.

    No pre-release or build suffixes: a release candidate is just a lower
    version, so the ordering has no special cases.
    """

    major: int
    minor: int
    patch: int

    @classmethod
    def parse(cls, text: str) -> ReleaseVersion:
        match = _VERSION_RE.fullmatch(text)
        if not match:
            raise ValueError(
                f"version {text!r} is not MAJOR.MINOR.PATCH "
                "(decimal numbers without leading zeros, e.g. 1.4.0)"
            )
        return cls(*(int(part) for part in match.groups()))

    def __str__(self) -> str:
        return f"{self.major}.{self.minor}.{self.patch}"


@dataclass(frozen=True)
class BoardIdentity:
    """Which hardware a release is for: board name, flash size and flash layout."""

    name: str
    flash_size: int
    fmap: Fmap


@dataclass(frozen=True)
class ImageDigest:
    length: int
    sha256: str
    sha512: str
    region_sha256: dict[str, str]


@dataclass(frozen=True)
class FileDigest:
    length: int
    sha256: str


@dataclass(frozen=True)
class ReleasePayload:
    board: BoardIdentity
    version: ReleaseVersion
    security_version: int
    expires: datetime
    image: ImageDigest
    manifest: FileDigest


def check_board_name(name: str) -> str:
    if not _BOARD_RE.fullmatch(name):
        raise PayloadFormatError(
            f"board name {name!r} must be 1-64 of a-z 0-9 . _ - starting with a letter or digit"
        )
    return name


def digest_image(image: bytes, fmap: Fmap) -> ImageDigest:
    """Length, sha256, sha512 and per-FMAP-region sha256 of an image."""
    return ImageDigest(
        length=len(image),
        sha256=hashlib.sha256(image).hexdigest(),
        sha512=hashlib.sha512(image).hexdigest(),
        region_sha256={
            area.name: hashlib.sha256(
                memoryview(image)[area.offset : area.offset + area.size]
            ).hexdigest()
            for area in fmap.areas
        },
    )


def digest_file(data: bytes) -> FileDigest:
    return FileDigest(length=len(data), sha256=hashlib.sha256(data).hexdigest())


def build_release_payload(
    *,
    image: bytes,
    manifest: bytes,
    board: str,
    version: str,
    security_version: int,
    expires: datetime,
) -> ReleasePayload:
    """Describe a built image; the FMAP is parsed from the image itself."""
    try:
        parsed_version = ReleaseVersion.parse(version)
    except ValueError as exc:
        raise PayloadFormatError(str(exc)) from None
    try:
        strict_integer(security_version, 0, MAX_SECURITY_VERSION)
    except ValueError as exc:
        raise PayloadFormatError(f"security_version {exc}") from None
    fmap = parse_fmap(image, "coreboot.rom")
    return ReleasePayload(
        board=BoardIdentity(check_board_name(board), len(image), fmap),
        version=parsed_version,
        security_version=security_version,
        expires=expires,
        image=digest_image(image, fmap),
        manifest=digest_file(manifest),
    )


def _fmap_json(fmap: Fmap) -> dict[str, Any]:
    return {
        "offset": fmap.offset,
        "base": fmap.base,
        "size": fmap.size,
        "name": fmap.name,
        "ver_major": fmap.ver_major,
        "ver_minor": fmap.ver_minor,
        "areas": [
            {"name": a.name, "offset": a.offset, "size": a.size, "flags": a.flags}
            for a in fmap.areas
        ],
    }


def encode_release_payload(payload: ReleasePayload) -> bytes:
    """The canonical bytes of a release payload (what is signed)."""
    return canonical_json(
        {
            "spec_version": RELEASE_SPEC_VERSION,
            "board": {
                "name": payload.board.name,
                "flash_size": payload.board.flash_size,
                "fmap": _fmap_json(payload.board.fmap),
            },
            "version": str(payload.version),
            "security_version": payload.security_version,
            "expires": format_timestamp(payload.expires),
            "image": {
                "length": payload.image.length,
                "sha256": payload.image.sha256,
                "sha512": payload.image.sha512,
                "regions": payload.image.region_sha256,
            },
            "manifest": {"length": payload.manifest.length, "sha256": payload.manifest.sha256},
        }
    )


def _decode_fmap(read: SchemaReader, value: Any) -> Fmap:
    where = "board.fmap"
    fmap = read.object(
        value, {"offset", "base", "size", "name", "ver_major", "ver_minor", "areas"}, where
    )
    areas_json = read.array(fmap["areas"], f"{where}.areas")
    if len(areas_json) > MAX_FMAP_AREAS:
        raise read.fail(f"{where}.areas", f"has more than {MAX_FMAP_AREAS} entries")
    areas = []
    for index, area in enumerate(areas_json):
        area_where = f"{where}.areas[{index}]"
        area = read.object(area, {"name", "offset", "size", "flags"}, area_where)
        areas.append(
            FmapArea(
                name=read.string(area["name"], f"{area_where}.name"),
                offset=read.integer(area["offset"], f"{area_where}.offset", maximum=2**32 - 1),
                size=read.integer(area["size"], f"{area_where}.size", maximum=2**32 - 1),
                flags=read.integer(area["flags"], f"{area_where}.flags", maximum=2**16 - 1),
            )
        )
    return Fmap(
        offset=read.integer(fmap["offset"], f"{where}.offset"),
        base=read.integer(fmap["base"], f"{where}.base"),
        size=read.integer(fmap["size"], f"{where}.size", maximum=2**32 - 1),
        name=read.string(fmap["name"], f"{where}.name"),
        areas=tuple(areas),
        ver_major=read.integer(fmap["ver_major"], f"{where}.ver_major", maximum=255),
        ver_minor=read.integer(fmap["ver_minor"], f"{where}.ver_minor", maximum=255),
    )


def decode_release_payload(data: bytes, what: str = "release payload") -> ReleasePayload:
    """Parse release payload bytes strictly (exact fields, exact types)."""
    read = SchemaReader(PayloadFormatError, what)
    document = read.object(
        parse_canonical_json(data, what, PayloadFormatError),
        {"spec_version", "board", "version", "security_version", "expires", "image", "manifest"},
        "payload",
    )
    read.integer(
        document["spec_version"], "spec_version", RELEASE_SPEC_VERSION, RELEASE_SPEC_VERSION
    )
    board = read.object(document["board"], {"name", "flash_size", "fmap"}, "board")
    image = read.object(document["image"], {"length", "sha256", "sha512", "regions"}, "image")
    manifest = read.object(document["manifest"], {"length", "sha256"}, "manifest")
    try:
        version = ReleaseVersion.parse(read.string(document["version"], "version"))
    except ValueError as exc:
        raise read.fail("version", str(exc)) from None
    fmap = _decode_fmap(read, board["fmap"])
    regions = {
        read.string(name, "an image.regions name"): read.hex_digest(
            digest, f"image.regions[{name}]", 64
        )
        for name, digest in read.mapping(image["regions"], "image.regions").items()
    }
    if set(regions) != {area.name for area in fmap.areas}:
        raise read.fail("image.regions", "must name exactly the FMAP's areas")
    return ReleasePayload(
        board=BoardIdentity(
            name=read.string(board["name"], "board.name", _BOARD_RE, "a board name"),
            flash_size=read.integer(board["flash_size"], "board.flash_size"),
            fmap=fmap,
        ),
        version=version,
        security_version=read.integer(
            document["security_version"], "security_version", maximum=MAX_SECURITY_VERSION
        ),
        expires=read.timestamp(document["expires"], "expires"),
        image=ImageDigest(
            length=read.integer(image["length"], "image.length"),
            sha256=read.hex_digest(image["sha256"], "image.sha256", 64),
            sha512=read.hex_digest(image["sha512"], "image.sha512", 128),
            region_sha256=regions,
        ),
        manifest=FileDigest(
            length=read.integer(manifest["length"], "manifest.length"),
            sha256=read.hex_digest(manifest["sha256"], "manifest.sha256", 64),
        ),
    )
