"""labgrid places: warmboot-lab on a labgrid coordinator and its exporters.

labgrid owns who may touch a board and how to reach it; warmboot-lab owns what
is written and proving that it boots. A place of the lab configuration with a
[labgrid] table names a labgrid place; for each run (flash or recover)
warmboot-lab

1. takes the local per-place lock (lock.py: the flashrom it starts inherits
   it, so a flashrom that outlives a killed run still keeps this host off),
2. acquires the labgrid place on the coordinator (gRPC, labgrid's own
   ClientSession), or ends BUSY naming who holds it,
3. maps the place's resources onto the flow: the NetworkFlashrom (or
   Flashrom) resource gives flashrom's programmer string (warmboot runs
   flashrom itself, on this host), the NetworkSerialPort the console, and the
   power resource the power commands (`labgrid-client power on|off|cycle`,
   run like any power command: own session, timeout, log, record),
4. runs the flow unchanged, and releases the place on every way out of the
   run, a deferred SIGINT/SIGTERM/SIGHUP included.

A run killed by SIGKILL cannot release: the place stays acquired, as labgrid
places do until someone releases them. <runs>/<place>/labgrid.json, written
right after the acquisition and removed after the release, lets the next run
say which run held it and that it is gone, and how to release it
(`labgrid-client -p PLACE release`); the place journal then refuses a chip
that run left half written until `warmboot-lab recover`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from getpass import getuser
from pathlib import Path
from typing import Any

from ..fsutil import PathError, ensure_private_dir, read_capped_nofollow, write_atomic
from .commands import utc_timestamp
from .config import LabgridSettings, Place, TcpConsole
from .errors import ConfigError, LabgridError, PlaceBusyError, one_line

RPC_SECONDS = 15.0  # each exchange with the coordinator
ACQUISITION_FILE = "labgrid.json"
FLASHROM_CLASSES = ("NetworkFlashrom", "Flashrom")
SERIAL_CLASSES = ("NetworkSerialPort",)
# What `labgrid-client power` drives (labgrid/remote/client.py, ClientSession.power).
POWER_CLASSES = (
    "NetworkPowerPort",
    "PDUDaemonPort",
    "NetworkUSBPowerPort",
    "NetworkSiSPMPowerPort",
    "TasmotaPowerPort",
    "NetworkYKUSHPowerPort",
    "NetworkSysfsGPIO",
)
LOCAL_HOSTS = {"127.0.0.1", "::1", "localhost"}


def identity() -> str:
    """Who acquires, as labgrid names it: HOST/USER ($LG_HOSTNAME, $LG_USERNAME override)."""
    return (
        f"{os.environ.get('LG_HOSTNAME', socket.gethostname())}/"
        f"{os.environ.get('LG_USERNAME', getuser())}"
    )


def client_argv(settings: LabgridSettings, *command: str) -> tuple[str, ...]:
    """labgrid-client from the same Python environment as warmboot-lab."""
    return (
        sys.executable,
        "-m",
        "labgrid.remote.client",
        "-x",
        settings.coordinator,
        "-p",
        settings.place,
        *command,
    )


@dataclass(frozen=True)
class Resource:
    name: str
    cls: str
    path: str  # exporter/group/class/name
    params: dict[str, Any]

    def as_record(self) -> dict[str, Any]:
        return {"name": self.name, "cls": self.cls, "path": self.path, "params": self.params}


@dataclass
class Acquisition:
    """One acquisition of a labgrid place, as the result record shows it."""

    coordinator: str
    place: str
    acquired_as: str
    acquired: str | None = None
    released: str | None = None
    release_error: str | None = None
    resources: list[Resource] = field(default_factory=list)
    used: dict[str, str] = field(default_factory=dict)  # role -> resource path

    def as_record(self) -> dict[str, Any]:
        return {
            "coordinator": self.coordinator,
            "place": self.place,
            "acquired_as": self.acquired_as,
            "acquired": self.acquired,
            "released": self.released,
            "release_error": self.release_error,
            "used": self.used,
            "resources": [r.as_record() for r in self.resources],
        }


class LabgridClient:
    """A session with a labgrid coordinator; every exchange ends within RPC_SECONDS."""

    def __init__(self, coordinator: str, timeout: float = RPC_SECONDS):
        self.coordinator = coordinator
        self.timeout = timeout
        self.session: Any = None
        self.loop: asyncio.AbstractEventLoop | None = None

    def _run(self, coroutine: Any, what: str) -> Any:
        assert self.loop is not None
        try:
            return self.loop.run_until_complete(asyncio.wait_for(coroutine, self.timeout))
        except TimeoutError:
            raise LabgridError(
                f"labgrid coordinator {self.coordinator}: no answer to {what} "
                f"within {self.timeout:.0f} s"
            ) from None

    def __enter__(self) -> LabgridClient:
        try:
            from labgrid.remote.client import ClientSession
        except ImportError as exc:
            raise LabgridError(
                f"labgrid is not installed ({exc}); ci/bootstrap installs the "
                "version pyproject.toml pins"
            ) from None
        # grpc.aio binds the channel to the current event loop: make it ours first.
        self.loop = asyncio.new_event_loop()
        asyncio.set_event_loop(self.loop)
        address = (
            self.coordinator
            if ":" in self.coordinator.rsplit("]", 1)[-1]
            else f"{self.coordinator}:20408"
        )
        try:
            self.session = ClientSession(address, self.loop)
            self._run(self.session.start(), "the session start")
        except LabgridError:
            self.close()
            raise
        except Exception as exc:  # noqa: BLE001 -- grpc and labgrid raise their own types
            self.close()
            raise LabgridError(
                f"cannot reach the labgrid coordinator {self.coordinator}: {one_line(exc)}"
            ) from None
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self.loop is None:
            return
        with contextlib.suppress(Exception):
            if self.session is not None:
                self._run(self.session.stop(), "the session stop")
                self._run(self.session.close(), "the session close")
        with contextlib.suppress(Exception):
            self.loop.close()
        asyncio.set_event_loop(None)
        self.loop = None

    def place(self, name: str) -> Any:
        place = self.session.places.get(name)
        if place is None:
            known = ", ".join(sorted(self.session.places)) or "none"
            raise LabgridError(
                f"labgrid coordinator {self.coordinator} has no place {name!r} (places: {known})"
            )
        return place

    def holder(self, name: str) -> str | None:
        return self.place(name).acquired or None

    def acquire(self, name: str) -> None:
        from labgrid.remote.generated import labgrid_coordinator_pb2 as pb2

        held = self.holder(name)
        if held:
            raise PlaceBusyError(f"labgrid place {name} is acquired by {held}")
        try:
            self._run(
                self.session.stub.AcquirePlace(pb2.AcquirePlaceRequest(placename=name)),
                "the acquisition",
            )
        except LabgridError:
            raise
        except Exception as exc:  # noqa: BLE001 -- grpc.aio.AioRpcError
            details = getattr(exc, "details", None)
            text = details() if callable(details) else str(exc)
            self._run(self.session.sync_with_coordinator(), "a sync")
            held = self.holder(name)
            if held:
                raise PlaceBusyError(
                    f"labgrid place {name} is acquired by {held} ({one_line(text)})"
                ) from None
            raise LabgridError(
                f"labgrid coordinator {self.coordinator} refused to acquire "
                f"place {name}: {one_line(text)}"
            ) from None
        self._run(self.session.sync_with_coordinator(), "a sync")

    def release(self, name: str) -> None:
        from labgrid.remote.generated import labgrid_coordinator_pb2 as pb2

        try:
            self._run(
                self.session.stub.ReleasePlace(pb2.ReleasePlaceRequest(placename=name)),
                "the release",
            )
        except LabgridError:
            raise
        except Exception as exc:  # noqa: BLE001 -- grpc.aio.AioRpcError, as in acquire
            details = getattr(exc, "details", None)
            raise LabgridError(
                f"labgrid coordinator {self.coordinator} did not release "
                f"place {name}: "
                f"{one_line(details() if callable(details) else exc)}"
            ) from None

    def resources(self, name: str) -> list[Resource]:
        place = self.place(name)
        found = []
        for path in place.acquired_resources:
            exporter, group, cls, resource_name = path
            match = place.getmatch(path)
            entry = self.session.resources.get(exporter, {}).get(group, {}).get(resource_name)
            if entry is None:
                raise LabgridError(
                    f"labgrid place {name}: resource {'/'.join(path)} is gone "
                    "(its exporter disconnected?)"
                )
            found.append(
                Resource(
                    (match.rename if match and match.rename else resource_name),
                    cls,
                    "/".join(path),
                    dict(entry.args),
                )
            )
        return found


def _choose(
    resources: list[Resource], classes: tuple[str, ...], wanted: str | None, role: str, place: str
) -> Resource:
    candidates = [r for r in resources if r.cls in classes and (wanted is None or r.name == wanted)]
    kinds = " or ".join(classes[:2]) + (" (or another power resource)" if role == "power" else "")
    if not candidates:
        named = f" named {wanted!r}" if wanted else ""
        raise LabgridError(
            f"labgrid place {place} has no {kinds} resource{named} for its "
            f"{role}; it has: " + (", ".join(f"{r.cls} {r.name}" for r in resources) or "nothing")
        )
    if len(candidates) > 1:
        raise LabgridError(
            f"labgrid place {place} has several {role} resources ("
            + ", ".join(r.name for r in candidates)
            + f'): name one with {role} = "NAME" in the place\'s [labgrid] table'
        )
    return candidates[0]


def _is_local(host: str) -> bool:
    if host in LOCAL_HOSTS or host == socket.gethostname():
        return True
    with contextlib.suppress(OSError):
        return host == socket.getfqdn() or socket.gethostbyname(host).startswith("127.")
    return False


def resolve_place(place: Place, resources: list[Resource], acquisition: Acquisition) -> Place:
    """The place with its programmer, console and power commands taken from labgrid."""
    settings = place.labgrid
    assert settings is not None
    flash = _choose(resources, FLASHROM_CLASSES, settings.flashrom, "flashrom", settings.place)
    serial = _choose(resources, SERIAL_CLASSES, settings.serial, "serial", settings.place)
    power = _choose(resources, POWER_CLASSES, settings.power, "power", settings.place)
    programmer = flash.params.get("programmer")
    if not isinstance(programmer, str) or not programmer:
        raise LabgridError(
            f"labgrid place {settings.place}: {flash.cls} {flash.name} has no programmer"
        )
    host = flash.params.get("host")
    if flash.cls == "NetworkFlashrom" and not (isinstance(host, str) and _is_local(host)):
        raise LabgridError(
            f"labgrid place {settings.place}: its flash programmer is attached "
            f"to {host}, and warmboot-lab runs flashrom on this host: run "
            "warmboot-lab on the exporter's host"
        )
    protocol = serial.params.get("protocol", "rfc2217")
    if protocol != "raw":
        raise LabgridError(
            f"labgrid place {settings.place}: NetworkSerialPort {serial.name} "
            f"speaks {protocol}; warmboot-lab reads raw TCP consoles: export "
            "it with protocol: raw (ser2net's raw accepter)"
        )
    try:
        console = TcpConsole(str(serial.params["host"]), int(serial.params["port"]))
    except (KeyError, TypeError, ValueError):
        raise LabgridError(
            f"labgrid place {settings.place}: NetworkSerialPort {serial.name} "
            "has no host and port (is its exporter's ser2net running?)"
        ) from None
    named = ("--name", power.name) if settings.power else ()
    cycle_delay = place.power.cycle_delay
    power_settings = replace(
        place.power,
        on=client_argv(settings, "power", "on", *named),
        off=client_argv(settings, "power", "off", *named),
        cycle=client_argv(settings, "power", "cycle", "--delay", f"{cycle_delay:g}", *named),
    )
    acquisition.used = {"flashrom": flash.path, "serial": serial.path, "power": power.path}
    return replace(
        place,
        flashrom=replace(place.flashrom, programmer=programmer),
        power=power_settings,
        console=console,
    )


# --- who holds a place: remembered across a SIGKILL ------------------------------


def acquisition_path(runs_place_dir: Path) -> Path:
    return runs_place_dir / ACQUISITION_FILE


def remember(path: Path, acquisition: Acquisition, run_dir: Path, command: str) -> None:
    data = {
        "coordinator": acquisition.coordinator,
        "place": acquisition.place,
        "acquired_as": acquisition.acquired_as,
        "acquired": acquisition.acquired,
        "pid": os.getpid(),
        "run_dir": str(run_dir),
        "command": command,
    }
    ensure_private_dir(path.parent)
    write_atomic(path, (json.dumps(data, indent=2) + "\n").encode())


def forget(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        path.unlink()


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def describe_stale(path: Path, held_by: str, settings: LabgridSettings) -> str | None:
    """When this host's earlier run holds the place and is gone: what happened, and
    how labgrid users release it."""
    try:
        data = json.loads(read_capped_nofollow(path, 65536))
    except (PathError, ValueError):
        return None
    if (
        not isinstance(data, dict)
        or data.get("acquired_as") != held_by
        or data.get("place") != settings.place
        or not isinstance(data.get("pid"), int)
    ):
        return None
    if _pid_alive(data["pid"]):
        return (
            f"held by warmboot-lab pid {data['pid']} (run {data.get('run_dir')}, "
            f"{data.get('command')}), which is still running"
        )
    step = None
    record = Path(str(data.get("run_dir"))) / "result.json"
    with contextlib.suppress(OSError, ValueError, PathError):
        result = json.loads(read_capped_nofollow(record, 64 << 20))
        running = [s["name"] for s in result.get("steps", []) if s.get("status") == "running"]
        step = running[-1] if running else None
    at = f" during its {step} step" if step else ""
    return (
        f"acquired {data.get('acquired')} by warmboot-lab run {data.get('run_dir')} "
        f"(pid {data['pid']}, {data.get('command')}), which ended{at} without releasing "
        f"it (killed); check the board, then release the place with `labgrid-client -x "
        f"{settings.coordinator} -p {settings.place} release` (a write it left unfinished "
        "makes the next flash refuse until `warmboot-lab recover`)"
    )


@contextlib.contextmanager
def acquired_place(
    place: Place,
    run_dir: Path,
    runs_place_dir: Path,
    command: str,
    acquisition_sink: list[Acquisition],
) -> Iterator[Place]:
    """Acquire the labgrid place for the block and yield the resolved place; release it
    on every way out. The Acquisition is appended to `acquisition_sink` as soon as it
    exists, so the record shows it even when resolving the resources fails."""
    settings = place.labgrid
    assert settings is not None
    path = acquisition_path(runs_place_dir)
    with LabgridClient(settings.coordinator) as client:
        acquisition = Acquisition(settings.coordinator, settings.place, identity())
        acquisition_sink.append(acquisition)
        try:
            client.acquire(settings.place)
        except PlaceBusyError as exc:
            held = client.holder(settings.place) or ""
            stale = describe_stale(path, held, settings) if held == identity() else None
            raise PlaceBusyError(f"{exc}{': ' + stale if stale else ''}") from None
        acquisition.acquired = utc_timestamp()
        try:
            try:
                remember(path, acquisition, run_dir, command)
            except (OSError, PathError) as exc:
                raise LabgridError(
                    f"cannot note the acquisition in {path}: "
                    f"{getattr(exc, 'strerror', None) or exc}"
                ) from None
            acquisition.resources = client.resources(settings.place)
            yield resolve_place(place, acquisition.resources, acquisition)
        finally:
            try:
                client.release(settings.place)
            except LabgridError as exc:
                acquisition.release_error = one_line(exc)
            else:
                acquisition.released = utc_timestamp()
                forget(path)


def place_status(settings: LabgridSettings) -> str:
    """For `warmboot-lab places`: who holds the labgrid place, or why we cannot tell."""
    try:
        with LabgridClient(settings.coordinator, timeout=5.0) as client:
            held = client.holder(settings.place)
    except (LabgridError, ConfigError) as exc:
        return f"labgrid: {one_line(exc)}"
    return f"labgrid: acquired by {held}" if held else "labgrid: free"
