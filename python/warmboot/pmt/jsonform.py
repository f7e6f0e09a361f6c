"""The JSON form of a table (`warmboot pmt encode|decode --json`):
addresses as hex strings, enums and flags by name."""

from __future__ import annotations

import enum
from typing import Any, cast

from .model import PMT_FIELDS, Pmt, PmtEntry
from .spec import (
    HEADER,
    MACHINE_NAMES,
    EntryStatus,
    EntryType,
    PmtError,
    PmtFlags,
    RejectReason,
    ResetCause,
)


def _json_int(value: object, what: str) -> int:
    if isinstance(value, bool):
        raise PmtError(f"{what}: expected an integer, got {value!r}")
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        try:
            return int(value, 0)
        except ValueError:
            pass
    raise PmtError(f'{what}: expected an integer or "0x..." string, got {value!r}')


def _json_enum(value: object, enum_type: type[enum.IntEnum], what: str) -> int:
    if isinstance(value, str) and value in enum_type.__members__:
        return enum_type[value]
    return _json_int(value, what)


def _json_flags(value: object, flag_type: type[enum.IntFlag], what: str) -> int:
    if isinstance(value, list):
        bits = 0
        for name in value:
            if isinstance(name, str) and name in flag_type.__members__:
                bits |= flag_type[name]
            elif isinstance(name, int) and not isinstance(name, bool):
                bits |= name  # bits without a name, as to_dict() writes them
            else:
                raise PmtError(
                    f"{what}: unknown flag {name!r}; known: {', '.join(flag_type.__members__)}"
                )
        return bits
    return _json_int(value, what)


def _json_bytes(value: object, what: str) -> bytes:
    if isinstance(value, str):
        try:
            return bytes.fromhex(value)
        except ValueError:
            pass
    raise PmtError(f"{what}: expected a hex string, got {value!r}")


def enum_name(value: int, enum_type: type[enum.IntEnum]) -> str | int:
    return enum_type(value).name if value in enum_type.__members__.values() else value


def flag_names(value: int, flag_type: type[enum.IntFlag]) -> list[str | int]:
    names: list[str | int] = [f.name for f in flag_type if f.value & value and f.name]
    unknown = value & ~sum(f.value for f in flag_type)
    return names + ([unknown] if unknown else [])


def to_dict(pmt: Pmt) -> dict[str, Any]:
    """A JSON-ready view: addresses as hex strings, enums and flags by name."""
    out: dict[str, Any] = {}
    for name in PMT_FIELDS:
        value = getattr(pmt, name)
        if name == "flags":
            out[name] = flag_names(value, PmtFlags)
        elif name == "reject_reason":
            out[name] = enum_name(value, RejectReason)
        elif name == "reset_cause":
            out[name] = enum_name(value, ResetCause)
        elif name == "e_machine":
            out[name] = MACHINE_NAMES.get(value, value)
        elif HEADER.field(name).kind == "u64":
            out[name] = f"{value:#x}"
        else:
            out[name] = value
    out["entries"] = [
        {
            "type": enum_name(e.type, EntryType),
            "base": f"{e.base:#x}",
            "size": f"{e.size:#x}",
            "dest": f"{e.dest:#x}",
            "cpu": e.cpu,
            "fw_status": enum_name(e.fw_status, EntryStatus),
            **({"extra": e.extra.hex()} if e.extra else {}),
        }
        for e in pmt.entries
    ]
    if pmt.header_extra:
        out["header_extra"] = pmt.header_extra.hex()
    if pmt.trailer:
        out["trailer"] = pmt.trailer.hex()
    return out


_ENTRY_KEYS = {"type", "base", "size", "dest", "cpu", "fw_status", "extra"}


def _entry_from_dict(i: int, obj: object) -> PmtEntry:
    what = f"entries[{i}]"
    if not isinstance(obj, dict):
        raise PmtError(f"{what}: expected an object")
    unknown = set(obj) - _ENTRY_KEYS
    if unknown:
        raise PmtError(f"{what}: unknown keys {sorted(unknown)}")
    for key in ("type", "base", "size"):
        if key not in obj:
            raise PmtError(f"{what}: missing {key!r}")
    return PmtEntry(
        # An unknown type stays an int, as decode() keeps it, for validate() to refuse.
        type=cast(EntryType, _json_enum(obj["type"], EntryType, f"{what}.type")),
        base=_json_int(obj["base"], f"{what}.base"),
        size=_json_int(obj["size"], f"{what}.size"),
        dest=_json_int(obj.get("dest", 0), f"{what}.dest"),
        cpu=_json_int(obj.get("cpu", 0), f"{what}.cpu"),
        fw_status=_json_enum(obj.get("fw_status", 0), EntryStatus, f"{what}.fw_status"),
        extra=_json_bytes(obj.get("extra", ""), f"{what}.extra"),
    )


def from_dict(obj: object) -> Pmt:
    """The inverse of to_dict(); numbers may be ints or "0x..." strings."""
    if not isinstance(obj, dict):
        raise PmtError("a PMT description must be a JSON object")
    known = set(PMT_FIELDS) | {"entries", "header_extra", "trailer"}
    unknown = set(obj) - known
    if unknown:
        raise PmtError(f"unknown keys {sorted(unknown)}")
    for key in ("e_machine", "cpu_count", "table_addr", "entries"):
        if key not in obj:
            raise PmtError(f"missing {key!r}")
    if not isinstance(obj["entries"], list):
        raise PmtError("entries must be a list")
    fields: dict[str, Any] = {}
    machines = {name: em for em, name in MACHINE_NAMES.items()}
    for name in PMT_FIELDS:
        if name not in obj:
            continue
        value = obj[name]
        if name == "flags":
            fields[name] = _json_flags(value, PmtFlags, name)
        elif name == "reject_reason":
            fields[name] = _json_enum(value, RejectReason, name)
        elif name == "reset_cause":
            fields[name] = _json_enum(value, ResetCause, name)
        elif name == "e_machine" and isinstance(value, str) and value in machines:
            fields[name] = machines[value]
        else:
            fields[name] = _json_int(value, name)
    return Pmt(
        entries=tuple(_entry_from_dict(i, e) for i, e in enumerate(obj["entries"])),
        header_extra=_json_bytes(obj.get("header_extra", ""), "header_extra"),
        trailer=_json_bytes(obj.get("trailer", ""), "trailer"),
        **fields,
    )
