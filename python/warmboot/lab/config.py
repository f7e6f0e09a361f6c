"""The lab configuration: a TOML file that describes each place (board) of a lab.

The format is specified in docs/lab.md. It follows labgrid places and LAVA
device dictionaries: per place, how to reach its flash (flashrom programmer,
expected chip), its power (on/off/cycle commands), its serial console (a
device or a TCP socket) and what a good boot prints (markers with timeouts).

`load_lab_config(path)` parses and validates the whole file up front, so a
typo fails before anything touches a board; every error names the file, the
place and the key.
"""

from __future__ import annotations

import os
import re
import termios
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, overload

from .. import tomlschema as tp
from ..sources.cache import default_cache_root
from .errors import ConfigError

PLACE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
LAYOUTS = ("full", "ifd", "fmap")

# What a warmboot image prints on a good boot (coreboot's banner, then LinuxBoot's init).
DEFAULT_BANNER_REGEX = r"coreboot-\S+ .* bootblock starting"
DEFAULT_LINUXBOOT_MARKER = "warmboot: linuxboot ready"


@dataclass(frozen=True)
class FlashromSettings:
    """How to reach the place's flash chip, and which chip must answer."""

    command: tuple[str, ...]  # argv prefix: ("flashrom",) or a wrapper
    programmer: str  # flashrom -p PROGRAMMER
    chip: str  # the name flashrom's probe reports, e.g. "W25Q128.V"
    size: int  # bytes
    layout: str = "full"  # "full" chip, or regions from the "ifd" / "fmap"
    regions: tuple[str, ...] = ()  # with ifd/fmap: flashrom -i REGION for each
    timeout: float = 900.0  # seconds per flashrom run
    extra_args: tuple[str, ...] = ()


@dataclass(frozen=True)
class PowerSettings:
    """Commands as argv lists; a TOML string becomes ["sh", "-c", string]."""

    on: tuple[str, ...]
    off: tuple[str, ...]
    cycle: tuple[str, ...] | None = None  # None: off, cycle_delay, on
    cycle_delay: float = 1.0
    timeout: float = 60.0
    # External programmers (SPI clip, Dediprog, servo) need the board off.
    off_while_flashing: bool = True


@dataclass(frozen=True)
class TcpConsole:
    """A raw TCP serial server (ser2net "raw", QEMU -serial tcp:…,server=on)."""

    host: str
    port: int

    def describe(self) -> str:
        return f"tcp:{self.host}:{self.port}"


@dataclass(frozen=True)
class SerialConsole:
    """A local serial device, opened raw (8N1, no flow control) at `baud`."""

    device: Path
    baud: int

    def describe(self) -> str:
        return f"{self.device}@{self.baud}"


ConsoleSettings = TcpConsole | SerialConsole


@dataclass(frozen=True)
class BootMarker:
    """A regular expression the console must print within `timeout` seconds of the
    previous marker (the first: of the power cycle)."""

    name: str
    regex: str
    timeout: float
    text: str | None = None  # the literal the regex was made from, for messages

    def compiled(self) -> re.Pattern[bytes]:
        return re.compile(self.regex.encode())

    def describe(self) -> str:
        return repr(self.text) if self.text is not None else f"/{self.regex}/"


@dataclass(frozen=True)
class BootSettings:
    markers: tuple[BootMarker, ...]
    # The image restored by a rollback may be another firmware with other markers.
    rollback_markers: tuple[BootMarker, ...]
    # Console output that ends a boot check at once (e.g. "Payload not loaded").
    failures: tuple[str, ...] = ()


DEFAULT_MARKERS = (
    BootMarker("coreboot", DEFAULT_BANNER_REGEX, 30.0),
    BootMarker("linuxboot", re.escape(DEFAULT_LINUXBOOT_MARKER), 120.0, DEFAULT_LINUXBOOT_MARKER),
)


@dataclass(frozen=True)
class LabgridSettings:
    """A place whose board labgrid reaches (lab/labgrid.py): warmboot-lab acquires the
    labgrid place `place` on `coordinator` for the run, and takes the flashrom
    programmer, the serial console and the power switch from its resources."""

    place: str
    coordinator: str  # HOST:PORT of labgrid-coordinator (gRPC)
    # Which resource to use when the place has several of a kind (by resource name).
    flashrom: str | None = None
    serial: str | None = None
    power: str | None = None

    def describe(self) -> str:
        return f"labgrid {self.place}@{self.coordinator}"


@dataclass(frozen=True)
class Place:
    name: str
    board: str  # the signed release's board.name must equal this
    flashrom: FlashromSettings
    power: PowerSettings
    console: ConsoleSettings
    boot: BootSettings
    description: str = ""
    # A labgrid place: programmer, power commands and console come from its
    # resources once acquired (the values above are placeholders until then).
    labgrid: LabgridSettings | None = None


@dataclass(frozen=True)
class LabSettings:
    runs: Path  # run directories: <runs>/<place>/<time>-<pid>/
    locks: Path  # <locks>/<place>.lock
    cache: Path  # downloaded files by sha256
    root: Path | None = None  # the trusted release root
    state: Path | None = None  # the rollback state file
    download_timeout: float = 30.0  # seconds to connect, and between two reads
    # The whole download, wall clock: a trickling server cannot stall a run.
    download_max_seconds: float = 900.0
    # A mirror that redirects elsewhere serves bytes from a host nobody configured.
    allow_cross_host_redirects: bool = False
    # The default labgrid coordinator of labgrid places (HOST:PORT).
    labgrid_coordinator: str | None = None


@dataclass(frozen=True)
class LabConfig:
    path: Path
    lab: LabSettings
    places: Mapping[str, Place] = field(default_factory=dict)

    def place(self, name: str) -> Place:
        try:
            return self.places[name]
        except KeyError:
            known = ", ".join(sorted(self.places)) or "none"
            raise ConfigError(f"{self.path}: no place {name!r} (places: {known})") from None


# --- validation ---------------------------------------------------------------

_SECONDS = (int, float)
_COMMAND = tp.Either(str, tp.List(str))  # a shell line (sh -c) or an argv list
_STRINGS = tp.List(str)

_FLASHROM = tp.Table(
    {
        "command": tp.Key(_COMMAND, "flashrom"),
        "programmer": str,
        "chip": str,
        "size": int,
        "layout": tp.Key(str, "full"),
        "regions": tp.Key(_STRINGS, ()),
        "timeout": tp.Key(_SECONDS, 900.0),
        "extra_args": tp.Key(_STRINGS, ()),
    }
)
_POWER = tp.Table(
    {
        "on": _COMMAND,
        "off": _COMMAND,
        "cycle": tp.Key(_COMMAND),
        "cycle_delay": tp.Key(_SECONDS, 1.0),
        "timeout": tp.Key(_SECONDS, 60.0),
        "off_while_flashing": tp.Key(bool, True),
    }
)
_CONSOLE = tp.Table(
    {
        "tcp": tp.Key(str),
        "device": tp.Key(str),
        "baud": tp.Key(int, 115200),  # with device
    }
)
_MARKER = tp.Table(
    {
        "name": tp.Key(str),
        "regex": tp.Key(str),
        "text": tp.Key(str),
        "timeout": tp.Key(_SECONDS, 60.0),
    }
)
_BOOT = tp.Table(
    {
        "markers": tp.Key(tp.List(_MARKER)),
        "rollback_markers": tp.Key(tp.List(_MARKER)),
        "failures": tp.Key(_STRINGS, ()),
    }
)
_LABGRID = tp.Table(
    {
        "place": tp.Key(str),  # default: the place's name
        "coordinator": tp.Key(str),  # default: [lab] labgrid_coordinator, $LG_COORDINATOR
        # Which resource of a kind, when the labgrid place has several (by name).
        "flashrom": tp.Key(str),
        "serial": tp.Key(str),
        "power": tp.Key(str),
    }
)
_PLACE = tp.Table(
    {
        "board": str,
        "description": tp.Key(str, ""),
        "flashrom": _FLASHROM,
        "power": _POWER,
        "console": _CONSOLE,
        "boot": tp.Key(_BOOT),
    }
)


def _optional(table: tp.Table, *keys: str) -> tp.Table:
    return tp.Table(
        {
            key: tp.Key(spec) if key in keys and not isinstance(spec, tp.Key) else spec
            for key, spec in table.keys.items()
        }
    )


# A place with a [labgrid] table: its resources give the programmer, the power
# commands and the console, which _place refuses if set (naming the resource);
# [power] is optional, for its delays and timeouts.
_LABGRID_PLACE = tp.Table(
    {
        **_PLACE.keys,
        "flashrom": _optional(_FLASHROM, "programmer"),
        "power": tp.Key(_optional(_POWER, "on", "off"), {}),
        "console": tp.Key(dict),
        "labgrid": _LABGRID,
    }
)
_LAB = tp.Table(
    {
        "runs": tp.Key(str),
        "locks": tp.Key(str),
        "cache": tp.Key(str),
        "root": tp.Key(str),
        "state": tp.Key(str),
        "download_timeout": tp.Key(_SECONDS, 30.0),
        "download_max_seconds": tp.Key(_SECONDS, 900.0),
        "allow_cross_host_redirects": tp.Key(bool, False),
        "labgrid_coordinator": tp.Key(str),  # HOST[:PORT], labgrid places' default
    }
)
# The lab configuration (docs/lab.md); what a schema cannot say is checked below.
LAB_SCHEMA = tp.Table(
    {
        "lab": tp.Key(_LAB, {}),
        "places": tp.Key(
            tp.Map(
                tp.Variant("labgrid", _LABGRID_PLACE, _PLACE),
                label="place {!r}",
                names=PLACE_NAME,
                rule="a place name is 1-64 letters, digits, '.', '_' or '-', "
                "starting with a letter or digit",
            ),
            {},
        ),
    }
)


def _text(table: tp.Section, key: str) -> Any:
    value = table[key]
    if value is not None and not value.strip():
        raise table.error(key, "must not be empty")
    return value


def _seconds(table: tp.Section, key: str) -> float:
    value = float(table[key])
    if not 0 < value <= 86400:
        raise table.error(key, f"must be between 0 and 86400 seconds, got {value:g}")
    return value


def _strings(table: tp.Section, key: str) -> tuple[str, ...]:
    value = table[key]
    if not all(value):
        raise table.error(key, "expected a list of non-empty strings")
    return value


def _command(table: tp.Section, key: str) -> tuple[str, ...] | None:
    """A shell command line (string, run with sh -c) or an argv list."""
    value = table[key]
    if value is None:
        return None
    if isinstance(value, str):
        if not value.strip():
            raise table.error(key, "must not be empty")
        return ("sh", "-c", value)
    if not value or not all(value):
        raise table.error(key, "expected a command line string or a non-empty argv list")
    return value


def _required_command(table: tp.Section, key: str) -> tuple[str, ...]:
    command = _command(table, key)
    if command is None:  # the schema requires it; None is not a TOML value
        raise table.error(key, "missing")
    return command


@overload
def _path(table: tp.Section, key: str, base: Path, default: Path) -> Path: ...
@overload
def _path(table: tp.Section, key: str, base: Path, default: None) -> Path | None: ...
def _path(table: tp.Section, key: str, base: Path, default: Path | None) -> Path | None:
    value = _text(table, key)
    if value is None:
        return default
    return _resolve(table, key, value, base)


_VARIABLE = re.compile(r"\$(?:\{(?P<braced>[^}]*)\}|(?P<name>[A-Za-z_][A-Za-z0-9_]*))")


def _resolve(table: tp.Section, key: str, value: str, base: Path) -> Path:
    """Expand $VARS and ~; relative paths are relative to the file's directory.

    An unset variable is an error: os.path.expandvars would leave "$VAR" in
    place and the run would create a directory of that name.
    """

    def variable(match: re.Match[str]) -> str:
        name = match["braced"] if match["braced"] is not None else match["name"]
        if name not in os.environ:
            raise table.error(key, f"${name} is not set (in {value!r})")
        return os.environ[name]

    try:
        path = Path(_VARIABLE.sub(variable, value)).expanduser()
    except RuntimeError as exc:  # ~user with no such user
        raise table.error(key, f"cannot expand {value!r}: {exc}") from None
    return path if path.is_absolute() else (base / path)


def _flashrom(table: tp.Section, labgrid: bool = False) -> FlashromSettings:
    command = table["command"]
    # flashrom's arguments are appended, so the command is never a shell line.
    if isinstance(command, str):
        command = (command,)
    if not command or not all(command):
        raise table.error("command", "expected a program or a non-empty argv list")
    size = table["size"]
    # Mostly powers of two; boards with two chips add up (the X230: 8 + 4 MiB).
    if size <= 0 or size % 4096:
        raise table.error("size", f"flash sizes are positive multiples of 4 KiB, got {size}")
    layout = table["layout"]
    if layout not in LAYOUTS:
        raise table.error("layout", f"expected one of {', '.join(LAYOUTS)}, got {layout!r}")
    regions = _strings(table, "regions")
    if layout == "full" and regions:
        raise table.error("regions", 'needs layout = "ifd" or "fmap"')
    if layout != "full" and not regions:
        raise table.error("regions", f'layout = "{layout}" needs the regions to write')
    if labgrid and "programmer" in table:
        raise table.error(
            "programmer",
            "comes from the labgrid place's NetworkFlashrom or Flashrom resource; remove it",
        )
    return FlashromSettings(
        command=command,
        programmer="" if labgrid else _text(table, "programmer"),
        chip=_text(table, "chip"),
        size=size,
        layout=layout,
        regions=regions,
        timeout=_seconds(table, "timeout"),
        extra_args=_strings(table, "extra_args"),
    )


def _power(table: tp.Section, labgrid: bool = False) -> PowerSettings:
    if labgrid:
        for key in ("on", "off", "cycle"):
            if key in table:
                raise table.error(
                    key,
                    "comes from the labgrid place's power resource "
                    "(labgrid-client power); remove it",
                )
    settings = PowerSettings(
        on=() if labgrid else _required_command(table, "on"),
        off=() if labgrid else _required_command(table, "off"),
        cycle=None if labgrid else _command(table, "cycle"),
        cycle_delay=float(table["cycle_delay"]),
        timeout=_seconds(table, "timeout"),
        off_while_flashing=table["off_while_flashing"],
    )
    if not 0 <= settings.cycle_delay <= 600:
        raise table.error("cycle_delay", "must be between 0 and 600 seconds")
    return settings


def _baud(table: tp.Section) -> int:
    baud = table["baud"]
    if not hasattr(termios, f"B{baud}"):
        raise table.error("baud", f"{baud} is not a baud rate this system's termios supports")
    return baud


def _console(table: tp.Section, base: Path) -> ConsoleSettings:
    has_tcp, has_device = "tcp" in table, "device" in table
    if has_tcp == has_device:
        raise table.error(None, 'set exactly one of tcp = "HOST:PORT" or device = "/dev/ttyUSB0"')
    if has_tcp:
        if "baud" in table:
            raise table.error("baud", "goes with device, not tcp")
        address = _text(table, "tcp")
        match = re.fullmatch(r"\[(?P<v6>[^]]+)\]:(?P<port>\d+)|(?P<host>[^:]+):(?P<p>\d+)", address)
        port = int(match["port"] or match["p"]) if match else 0
        if not match or not 0 < port < 65536:
            raise table.error("tcp", f"expected HOST:PORT or [IPv6]:PORT, got {address!r}")
        return TcpConsole(match["v6"] or match["host"], port)
    return SerialConsole(_resolve(table, "device", _text(table, "device"), base), _baud(table))


def _markers(
    table: tp.Section, key: str, default: tuple[BootMarker, ...]
) -> tuple[BootMarker, ...]:
    entries = table[key]
    if entries is None:
        return default
    if not entries:
        raise table.error(key, "needs at least one marker")
    markers = []
    for index, item in enumerate(entries):
        name = _text(item, "name")
        if ("regex" in item) == ("text" in item):
            raise item.error(None, "set exactly one of regex or text")
        text = _text(item, "text")
        regex = _text(item, "regex") if text is None else re.escape(text)
        _check_regex(item, "regex", regex)
        markers.append(
            BootMarker(
                name if name is not None else f"marker {index + 1}",
                regex,
                _seconds(item, "timeout"),
                text,
            )
        )
    return tuple(markers)


def _check_regex(table: tp.Section, key: str, regex: str) -> None:
    try:
        re.compile(regex.encode())
    except re.error as exc:
        raise table.error(key, f"invalid regular expression {regex!r}: {exc}") from None


def _boot(table: tp.Section | None) -> BootSettings:
    if table is None:
        return BootSettings(DEFAULT_MARKERS, DEFAULT_MARKERS)
    markers = _markers(table, "markers", DEFAULT_MARKERS)
    rollback = _markers(table, "rollback_markers", markers)
    failures = _strings(table, "failures")
    for regex in failures:
        _check_regex(table, "failures", regex)
    return BootSettings(markers, rollback, failures)


_COORDINATOR = re.compile(r"(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._-]+)(:\d{1,5})?")


def _coordinator(table: tp.Section, key: str, value: str) -> str:
    if not _COORDINATOR.fullmatch(value):
        raise table.error(key, f"expected HOST[:PORT] of a labgrid coordinator, got {value!r}")
    return value


def _labgrid(table: tp.Section, name: str, lab: LabSettings) -> LabgridSettings:
    coordinator = (
        _text(table, "coordinator") or lab.labgrid_coordinator or os.environ.get("LG_COORDINATOR")
    )
    if not coordinator:
        raise table.error(
            "coordinator", "missing: set it here, labgrid_coordinator in [lab], or $LG_COORDINATOR"
        )
    place = _text(table, "place")
    return LabgridSettings(
        place=place if place is not None else name,
        coordinator=_coordinator(table, "coordinator", coordinator),
        flashrom=_text(table, "flashrom"),
        serial=_text(table, "serial"),
        power=_text(table, "power"),
    )


def _place(name: str, table: tp.Section, path: Path, lab: LabSettings) -> Place:
    labgrid = _labgrid(table["labgrid"], name, lab) if "labgrid" in table else None
    if labgrid:
        # Console and power come from labgrid; [power] may still set delays and timeouts.
        if "console" in table:
            raise table.error(
                "console", "comes from the labgrid place's NetworkSerialPort; remove it"
            )
        console: ConsoleSettings = TcpConsole("labgrid", 1)  # replaced once acquired
    else:
        console = _console(table["console"], path.parent)
    return Place(
        name=name,
        board=_text(table, "board"),
        description=table["description"],
        flashrom=_flashrom(table["flashrom"], labgrid is not None),
        power=_power(table["power"], labgrid is not None),
        console=console,
        boot=_boot(table["boot"]),
        labgrid=labgrid,
    )


def _lab(table: tp.Section, path: Path) -> LabSettings:
    base = path.parent
    settings = LabSettings(
        runs=_path(table, "runs", base, base / "runs"),
        locks=_path(table, "locks", base, base / "locks"),
        cache=_path(table, "cache", base, default_cache_root() / "lab"),
        root=_path(table, "root", base, None),
        state=_path(table, "state", base, None),
        download_timeout=_seconds(table, "download_timeout"),
        download_max_seconds=_seconds(table, "download_max_seconds"),
        allow_cross_host_redirects=table["allow_cross_host_redirects"],
        labgrid_coordinator=_text(table, "labgrid_coordinator"),
    )
    if settings.labgrid_coordinator:
        _coordinator(table, "labgrid_coordinator", settings.labgrid_coordinator)
    return settings


def parse_lab_config(text: str, path: Path) -> LabConfig:
    """Parse the TOML text of a lab configuration (`path` names it in errors and
    anchors its relative paths)."""
    data = tp.parse(text, path, LAB_SCHEMA, ConfigError)
    lab = _lab(data["lab"], path)
    places = {name: _place(name, entry, path, lab) for name, entry in data["places"].items()}
    if not places:
        raise ConfigError(f"{path}: no [places.NAME] tables")
    return LabConfig(path=path, lab=lab, places=places)


def load_lab_config(path: Path | str) -> LabConfig:
    path = Path(path).expanduser().absolute()
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(
            f"cannot read lab configuration {path}: {getattr(exc, 'strerror', None) or exc}"
        ) from None
    return parse_lab_config(text, path)
