"""The rollback state file: what this host has already accepted.

    {"format": "warmboot-rollback-state", "format_version": 1,
     "root_version": N,
     "boards": {BOARD: {"version": "MAJOR.MINOR.PATCH", "security_version": N}, ...}}

It only ever moves forward (each field is the maximum ever accepted), is
written atomically, and is updated only after a release verified completely
and only when the caller asks (commit_state / --commit-state).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

from .encoding import SchemaReader, parse_json, readable_json
from .errors import (
    PayloadFormatError,
    ReleaseFileError,
    SecurityVersionRollbackError,
    StateFileError,
    VersionRollbackError,
)
from .files import read_capped, write_atomic
from .payload import MAX_SECURITY_VERSION, ReleasePayload, ReleaseVersion, check_board_name

STATE_FORMAT = "warmboot-rollback-state"
STATE_FORMAT_VERSION = 1
MAX_STATE_BYTES = 1024 * 1024
log = logging.getLogger("warmboot.release")


@dataclass(frozen=True)
class BoardState:
    """The highest version and security_version accepted for one board."""

    version: ReleaseVersion
    security_version: int


@dataclass(frozen=True)
class RollbackState:
    root_version: int = 0
    boards: dict[str, BoardState] = field(default_factory=dict)


def encode_state(state: RollbackState) -> bytes:
    return readable_json(
        {
            "format": STATE_FORMAT,
            "format_version": STATE_FORMAT_VERSION,
            "root_version": state.root_version,
            "boards": {
                name: {"version": str(board.version), "security_version": board.security_version}
                for name, board in sorted(state.boards.items())
            },
        }
    )


def decode_state(data: bytes, what: str = "state file") -> RollbackState:
    read = SchemaReader(StateFileError, what)
    document = read.object(
        parse_json(data, what, StateFileError),
        {"format", "format_version", "root_version", "boards"},
        "the file",
    )
    if document["format"] != STATE_FORMAT:
        raise read.fail("format", f"must be {STATE_FORMAT!r}")
    read.integer(
        document["format_version"], "format_version", STATE_FORMAT_VERSION, STATE_FORMAT_VERSION
    )
    boards = {}
    for name, entry in read.mapping(document["boards"], "boards").items():
        entry = read.object(entry, {"version", "security_version"}, f"boards[{name}]")
        try:
            check_board_name(name)
            version = ReleaseVersion.parse(read.string(entry["version"], f"boards[{name}]"))
        except (ValueError, PayloadFormatError) as exc:
            raise read.fail(f"boards[{name}]", str(exc)) from None
        boards[name] = BoardState(
            version,
            read.integer(
                entry["security_version"],
                f"boards[{name}].security_version",
                maximum=MAX_SECURITY_VERSION,
            ),
        )
    return RollbackState(read.integer(document["root_version"], "root_version"), boards)


def load_state(path: Path) -> RollbackState:
    """The state in `path`; a file that does not exist yet is an empty state."""
    path = Path(path)
    if not path.exists():
        return RollbackState()
    try:
        data = read_capped(path, MAX_STATE_BYTES, "state file")
    except ReleaseFileError as exc:
        raise StateFileError(str(exc)) from None
    return decode_state(data, f"state file {path}")


def save_state(path: Path, state: RollbackState) -> None:
    write_atomic(Path(path), encode_state(state), mode=0o644)


def check_rollback(
    state: RollbackState, payload: ReleasePayload, allow_version_downgrade: bool = False
) -> list[str]:
    """Reject a release older than what `state` accepted; return override warnings.

    security_version can never go down. A lower version within the same
    security_version passes only with allow_version_downgrade (for bisecting
    in a lab), and that is logged.
    """
    accepted = state.boards.get(payload.board.name)
    if accepted is None:
        return []
    if payload.security_version < accepted.security_version:
        raise SecurityVersionRollbackError(
            f"release {payload.version} for {payload.board.name} has security_version "
            f"{payload.security_version}, lower than the {accepted.security_version} this "
            "host already accepted; it may carry fixed vulnerabilities"
        )
    if payload.version < accepted.version:
        message = (
            f"release {payload.version} for {payload.board.name} is older than "
            f"version {accepted.version}, which this host already accepted"
        )
        if not allow_version_downgrade:
            raise VersionRollbackError(message)
        warning = f"{message}; accepted because a version downgrade was explicitly allowed"
        log.warning(warning)
        return [warning]
    return []


def advance_state(
    state: RollbackState, payload: ReleasePayload, root_version: int
) -> RollbackState:
    """The state after accepting `payload` under root `root_version` (never lower)."""
    boards = dict(state.boards)
    previous = boards.get(payload.board.name)
    if previous is None:
        boards[payload.board.name] = BoardState(payload.version, payload.security_version)
    else:
        boards[payload.board.name] = BoardState(
            max(previous.version, payload.version),
            max(previous.security_version, payload.security_version),
        )
    return RollbackState(max(state.root_version, root_version), boards)
