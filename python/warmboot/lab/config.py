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

import difflib
import os
import re
import termios
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

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

    command: tuple[str, ...]      # argv prefix: ("flashrom",) or a wrapper
    programmer: str               # flashrom -p PROGRAMMER
    chip: str                     # the name flashrom's probe reports, e.g. "W25Q128.V"
    size: int                     # bytes
    layout: str = "full"          # "full" chip, or regions from the "ifd" / "fmap"
    regions: tuple[str, ...] = ()  # with ifd/fmap: flashrom -i REGION for each
    timeout: float = 900.0        # seconds per flashrom run
    extra_args: tuple[str, ...] = ()


@dataclass(frozen=True)
class PowerSettings:
    """Commands as argv lists; a TOML string becomes ["sh", "-c", string]."""

    on: tuple[str, ...]
    off: tuple[str, ...]
    cycle: tuple[str, ...] | None = None   # None: off, cycle_delay, on
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
    text: str | None = None   # the literal the regex was made from, for messages

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
    BootMarker("linuxboot", re.escape(DEFAULT_LINUXBOOT_MARKER), 120.0,
               DEFAULT_LINUXBOOT_MARKER),
)


@dataclass(frozen=True)
class LabgridSettings:
    """A place whose board labgrid reaches (lab/labgrid.py): warmboot-lab acquires the
    labgrid place `place` on `coordinator` for the run, and takes the flashrom
    programmer, the serial console and the power switch from its resources."""

    place: str
    coordinator: str              # HOST:PORT of labgrid-coordinator (gRPC)
    # Which resource to use when the place has several of a kind (by resource name).
    flashrom: str | None = None
    serial: str | None = None
    power: str | None = None

    def describe(self) -> str:
        return f"labgrid {self.place}@{self.coordinator}"


@dataclass(frozen=True)
class Place:
    name: str
    board: str                    # the signed release's board.name must equal this
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
    runs: Path                    # run directories: <runs>/<place>/<time>-<pid>/
    locks: Path                   # <locks>/<place>.lock
    cache: Path                   # downloaded files by sha256
    root: Path | None = None      # the trusted release root
    state: Path | None = None     # the rollback state file
    download_timeout: float = 30.0      # seconds to connect, and between two reads
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

_REQUIRED = object()


class _Table:
    """Reads one TOML table, checking types; unknown keys are errors (typos)."""

    def __init__(self, data: Any, where: str):
        if not isinstance(data, dict):
            raise ConfigError(f"{where}: expected a table, got {_kind(data)}")
        self.data = data
        self.where = where
        self.used: set[str] = set()

    def error(self, key: str, problem: str) -> ConfigError:
        return ConfigError(f"{self.where}: {key}: {problem}")

    def get(self, key: str, types: type | tuple[type, ...], default: Any = _REQUIRED) -> Any:
        self.used.add(key)
        if key not in self.data:
            if default is _REQUIRED:
                typo = difflib.get_close_matches(key, [k for k in self.data if k != key], 1, 0.8)
                raise self.error(key, f"missing (is {typo[0]!r} a typo of it?)" if typo
                                 else "missing")
            return default
        value = self.data[key]
        # bool is an int subclass; a timeout of `true` is a mistake, not 1.
        if isinstance(value, bool) and bool not in _as_tuple(types):
            raise self.error(key, f"expected {_names(types)}, got a boolean")
        if not isinstance(value, types):
            raise self.error(key, f"expected {_names(types)}, got {_kind(value)}")
        return value

    def text(self, key: str, default: Any = _REQUIRED) -> Any:
        value = self.get(key, str, default)
        if value is not default and not value.strip():
            raise self.error(key, "must not be empty")
        return value

    def seconds(self, key: str, default: float) -> float:
        value = float(self.get(key, (int, float), default))
        if not 0 < value <= 86400:
            raise self.error(key, f"must be between 0 and 86400 seconds, got {value:g}")
        return value

    def strings(self, key: str, default: tuple[str, ...] = ()) -> tuple[str, ...]:
        value = self.get(key, list, list(default))
        if not all(isinstance(item, str) and item for item in value):
            raise self.error(key, "expected a list of non-empty strings")
        return tuple(value)

    def command(self, key: str, default: Any = _REQUIRED) -> tuple[str, ...] | None:
        """A shell command line (string, run with sh -c) or an argv list."""
        value = self.get(key, (str, list), default)
        if value is None or value is default:
            return value
        if isinstance(value, str):
            if not value.strip():
                raise self.error(key, "must not be empty")
            return ("sh", "-c", value)
        if not value or not all(isinstance(item, str) and item for item in value):
            raise self.error(key, "expected a command line string or a non-empty argv list")
        return tuple(value)

    def path(self, key: str, base: Path, default: Any = _REQUIRED) -> Any:
        value = self.text(key, default)
        if value is default:
            return value
        return _resolve(self, key, value, base)

    def table(self, key: str, required: bool = True) -> "_Table | None":
        self.used.add(key)
        if key not in self.data:
            if required:
                raise self.error(key, "missing table")
            return None
        return _Table(self.data[key], f"{self.where} [{key}]")

    def finish(self) -> None:
        unknown = sorted(set(self.data) - self.used)
        if unknown:
            raise ConfigError(f"{self.where}: unknown key{'s' if len(unknown) > 1 else ''} "
                              + ", ".join(repr(k) for k in unknown))


def _as_tuple(types: type | tuple[type, ...]) -> tuple[type, ...]:
    return types if isinstance(types, tuple) else (types,)


_TYPE_NAMES = {str: "a string", int: "an integer", float: "a number", bool: "a boolean",
               list: "a list", dict: "a table"}


def _names(types: type | tuple[type, ...]) -> str:
    return " or ".join(_TYPE_NAMES.get(t, t.__name__) for t in _as_tuple(types))


def _kind(value: Any) -> str:
    return _TYPE_NAMES.get(type(value), type(value).__name__)


_VARIABLE = re.compile(r"\$(?:\{(?P<braced>[^}]*)\}|(?P<name>[A-Za-z_][A-Za-z0-9_]*))")


def _resolve(table: _Table, key: str, value: str, base: Path) -> Path:
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


def _flashrom(table: _Table, labgrid: bool = False) -> FlashromSettings:
    command = table.get("command", (str, list), "flashrom")
    # flashrom's arguments are appended, so the command is never a shell line.
    if isinstance(command, str):
        command = [command]
    if not command or not all(isinstance(item, str) and item for item in command):
        raise table.error("command", "expected a program or a non-empty argv list")
    size = table.get("size", int)
    # Mostly powers of two; boards with two chips add up (the X230: 8 + 4 MiB).
    if size <= 0 or size % 4096:
        raise table.error("size", f"flash sizes are positive multiples of 4 KiB, got {size}")
    layout = table.get("layout", str, "full")
    if layout not in LAYOUTS:
        raise table.error("layout", f"expected one of {', '.join(LAYOUTS)}, got {layout!r}")
    regions = table.strings("regions")
    if layout == "full" and regions:
        raise table.error("regions", 'needs layout = "ifd" or "fmap"')
    if layout != "full" and not regions:
        raise table.error("regions", f'layout = "{layout}" needs the regions to write')
    if labgrid and "programmer" in table.data:
        raise table.error("programmer", "comes from the labgrid place's NetworkFlashrom or "
                                        "Flashrom resource; remove it")
    settings = FlashromSettings(
        command=tuple(command),
        programmer="" if labgrid else table.text("programmer"), chip=table.text("chip"),
        size=size, layout=layout, regions=regions, timeout=table.seconds("timeout", 900.0),
        extra_args=table.strings("extra_args"))
    table.finish()
    return settings


def _power(table: _Table, labgrid: bool = False) -> PowerSettings:
    if labgrid:
        for key in ("on", "off", "cycle"):
            if key in table.data:
                raise table.error(key, "comes from the labgrid place's power resource "
                                       "(labgrid-client power); remove it")
    settings = PowerSettings(
        on=() if labgrid else table.command("on"), off=() if labgrid else table.command("off"),
        cycle=None if labgrid else table.command("cycle", None),
        cycle_delay=float(table.get("cycle_delay", (int, float), 1.0)),
        timeout=table.seconds("timeout", 60.0),
        off_while_flashing=table.get("off_while_flashing", bool, True))
    if not 0 <= settings.cycle_delay <= 600:
        raise table.error("cycle_delay", "must be between 0 and 600 seconds")
    table.finish()
    return settings


def _baud(table: _Table) -> int:
    baud = table.get("baud", int, 115200)
    if not hasattr(termios, f"B{baud}"):
        raise table.error("baud", f"{baud} is not a baud rate this system's termios supports")
    return baud


def _console(table: _Table, base: Path) -> ConsoleSettings:
    has_tcp, has_device = "tcp" in table.data, "device" in table.data
    if has_tcp == has_device:
        raise ConfigError(f"{table.where}: set exactly one of tcp = \"HOST:PORT\" or "
                          "device = \"/dev/ttyUSB0\"")
    console: ConsoleSettings
    if has_tcp:
        address = table.text("tcp")
        match = re.fullmatch(r"\[(?P<v6>[^]]+)\]:(?P<port>\d+)|(?P<host>[^:]+):(?P<p>\d+)",
                             address)
        port = int(match["port"] or match["p"]) if match else 0
        if not match or not 0 < port < 65536:
            raise table.error("tcp", f"expected HOST:PORT or [IPv6]:PORT, got {address!r}")
        console = TcpConsole(match["v6"] or match["host"], port)
    else:
        console = SerialConsole(table.path("device", base), _baud(table))
    table.finish()
    return console


def _markers(table: _Table, key: str, default: tuple[BootMarker, ...]) -> tuple[BootMarker, ...]:
    entries = table.get(key, list, None)
    if entries is None:
        return default
    if not entries:
        raise table.error(key, "needs at least one marker")
    markers = []
    for index, entry in enumerate(entries):
        item = _Table(entry, f"{table.where} {key}[{index}]")
        name = item.text("name", f"marker {index + 1}")
        if ("regex" in item.data) == ("text" in item.data):
            raise ConfigError(f"{item.where}: set exactly one of regex or text")
        text = item.text("text") if "text" in item.data else None
        regex = item.text("regex") if text is None else re.escape(text)
        _check_regex(item, "regex", regex)
        markers.append(BootMarker(name, regex, item.seconds("timeout", 60.0), text))
        item.finish()
    return tuple(markers)


def _check_regex(table: _Table, key: str, regex: str) -> None:
    try:
        re.compile(regex.encode())
    except re.error as exc:
        raise table.error(key, f"invalid regular expression {regex!r}: {exc}") from None


def _boot(table: _Table | None) -> BootSettings:
    if table is None:
        return BootSettings(DEFAULT_MARKERS, DEFAULT_MARKERS)
    markers = _markers(table, "markers", DEFAULT_MARKERS)
    rollback = _markers(table, "rollback_markers", markers)
    failures = table.strings("failures")
    for regex in failures:
        _check_regex(table, "failures", regex)
    table.finish()
    return BootSettings(markers, rollback, failures)


_COORDINATOR = re.compile(r"(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._-]+)(:\d{1,5})?")


def _coordinator(table: _Table, key: str, value: str) -> str:
    if not _COORDINATOR.fullmatch(value):
        raise table.error(key, f"expected HOST[:PORT] of a labgrid coordinator, got {value!r}")
    return value


def _labgrid(table: _Table, name: str, lab: LabSettings) -> LabgridSettings:
    coordinator = table.text("coordinator", None) or lab.labgrid_coordinator \
        or os.environ.get("LG_COORDINATOR")
    if not coordinator:
        raise table.error("coordinator", "missing: set it here, labgrid_coordinator in [lab], "
                                         "or $LG_COORDINATOR")
    settings = LabgridSettings(
        place=table.text("place", name), coordinator=_coordinator(table, "coordinator",
                                                                    coordinator),
        flashrom=table.text("flashrom", None), serial=table.text("serial", None),
        power=table.text("power", None))
    table.finish()
    return settings


def _place(name: str, data: Any, path: Path, lab: LabSettings) -> Place:
    where = f"{path}: place {name!r}"
    if not PLACE_NAME.fullmatch(name):
        raise ConfigError(f"{where}: a place name is 1-64 letters, digits, '.', '_' or '-', "
                          "starting with a letter or digit")
    table = _Table(data, where)
    labgrid_table = table.table("labgrid", required=False)
    labgrid = _labgrid(labgrid_table, name, lab) if labgrid_table else None
    if labgrid:
        # Console and power come from labgrid; [power] may still set delays and timeouts.
        if "console" in table.data:
            raise table.error("console", "comes from the labgrid place's NetworkSerialPort; "
                                         "remove it")
        power_table = table.table("power", required=False) or _Table({}, f"{where} [power]")
        console: ConsoleSettings = TcpConsole("labgrid", 1)   # replaced once acquired
    else:
        power_table = table.table("power")
        console = _console(table.table("console"), path.parent)
    place = Place(
        name=name, board=table.text("board"), description=table.get("description", str, ""),
        flashrom=_flashrom(table.table("flashrom"), labgrid is not None),
        power=_power(power_table, labgrid is not None), console=console,
        boot=_boot(table.table("boot", required=False)), labgrid=labgrid)
    table.finish()
    return place


def _lab(data: Any, path: Path) -> LabSettings:
    table = _Table(data if data is not None else {}, f"{path}: [lab]")
    base = path.parent
    cache_default = default_cache_root() / "lab"
    settings = LabSettings(
        runs=table.path("runs", base, base / "runs"),
        locks=table.path("locks", base, base / "locks"),
        cache=table.path("cache", base, cache_default),
        root=table.path("root", base, None), state=table.path("state", base, None),
        download_timeout=table.seconds("download_timeout", 30.0),
        download_max_seconds=table.seconds("download_max_seconds", 900.0),
        allow_cross_host_redirects=table.get("allow_cross_host_redirects", bool, False),
        labgrid_coordinator=table.text("labgrid_coordinator", None))
    if settings.labgrid_coordinator:
        _coordinator(table, "labgrid_coordinator", settings.labgrid_coordinator)
    table.finish()
    return settings


def parse_lab_config(text: str, path: Path) -> LabConfig:
    """Parse the TOML text of a lab configuration (`path` names it in errors and
    anchors its relative paths)."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    top = _Table(data, str(path))
    lab = _lab(top.get("lab", dict, None), path)
    places_table = top.get("places", dict, {})
    places = {name: _place(name, entry, path, lab) for name, entry in places_table.items()}
    top.finish()
    if not places:
        raise ConfigError(f"{path}: no [places.NAME] tables")
    return LabConfig(path=path, lab=lab, places=places)


def load_lab_config(path: Path | str) -> LabConfig:
    path = Path(path).expanduser().absolute()
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read lab configuration {path}: "
                          f"{getattr(exc, 'strerror', None) or exc}") from None
    return parse_lab_config(text, path)
