"""Strict JSON, base64 and timestamp encodings shared by the release formats.

Decoding is deliberately unforgiving: duplicate object keys, unknown fields,
non-canonical base64 and loose timestamps are errors. Two parsers (ours, and
LinuxBoot's later) must never read one signed document two ways.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from .errors import ReleaseError

TIMESTAMP_FORMAT = "%Y-%m-%dT%H:%M:%SZ"
# [0-9], not \d: \d and strptime also take other scripts' digits, which another
# verifier would not.
_TIMESTAMP_RE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z")
_HEX_RE = re.compile(r"[0-9a-f]+")
# Counters (versions, sizes) must fit the unsigned 64-bit fields of other
# implementations.
MAX_UINT64 = 2**64 - 1


def strict_integer(value: Any, minimum: int = 0, maximum: int = MAX_UINT64) -> int:
    """`value` if it is an int (never a bool) within [minimum, maximum]; else ValueError.

    The one integer reader of every signed or trusted document and numeric
    option. bool is an int in Python and True == 1, so `true` would pass
    for 1 anywhere a plain comparison or isinstance(value, int) is used.
    """
    if not isinstance(value, int) or isinstance(value, bool):
        raise ValueError("must be an integer")
    if not minimum <= value <= maximum:
        raise ValueError(
            f"must be {minimum}, not {value}"
            if minimum == maximum
            else f"must be between {minimum} and {maximum}, not {value}"
        )
    return value


def canonical_json(value: Any) -> bytes:
    """The one byte encoding of a payload: sorted keys, no spaces, ASCII."""
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False
    ).encode("ascii")


def readable_json(value: Any) -> bytes:
    """The one byte encoding of a file people read: sorted, indented, ASCII."""
    return (
        json.dumps(value, sort_keys=True, indent=2, ensure_ascii=True, allow_nan=False) + "\n"
    ).encode("ascii")


def _reject_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise ValueError(f"duplicate key {key!r}")
        result[key] = value
    return result


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not allowed")


def _reject_float(text: str) -> Any:
    raise ValueError(f"non-integer number {text} is not allowed")


def parse_json(data: bytes, what: str, error: type[ReleaseError]) -> Any:
    """Parse UTF-8 JSON with no duplicate keys, no floats and no NaN."""
    try:
        text = data.decode("utf-8")
        return json.loads(
            text,
            object_pairs_hook=_reject_duplicates,
            parse_constant=_reject_constant,
            parse_float=_reject_float,
        )
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise error(f"{what} is not valid JSON: {exc}") from None


def parse_canonical_json(data: bytes, what: str, error: type[ReleaseError]) -> Any:
    """parse_json, and the bytes must be canonical_json of what they parse to.

    JSON has many spellings of one value (whitespace, key order, escapes such
    as \\u002d, -0); verifiers in other languages may not read them all alike,
    so a signed payload has exactly one.
    """
    value = parse_json(data, what, error)
    canonical = canonical_json(value)
    if canonical != data:
        differs = next(
            (i for i, (a, b) in enumerate(zip(data, canonical, strict=False)) if a != b),
            min(len(data), len(canonical)),
        )
        raise error(
            f"{what} is not in canonical form (sorted keys, no whitespace, ASCII, "
            f"shortest escapes; first difference at byte {differs})"
        )
    return value


def encode_base64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def format_timestamp(moment: datetime) -> str:
    """RFC 3339 UTC with whole seconds, e.g. 2026-05-01T00:00:00Z."""
    if moment.tzinfo is None:
        raise ValueError("timestamps must be timezone-aware")
    return moment.astimezone(UTC).strftime(TIMESTAMP_FORMAT)


def parse_timestamp(text: str) -> datetime:
    """Parse the format_timestamp form; raise ValueError on anything else."""
    if not _TIMESTAMP_RE.fullmatch(text):
        raise ValueError(f"{text!r} is not of the form YYYY-MM-DDTHH:MM:SSZ")
    return datetime.strptime(text, TIMESTAMP_FORMAT).replace(tzinfo=UTC)


@dataclass(frozen=True)
class SchemaReader:
    """Typed field access that raises one error type, naming the field."""

    error: type[ReleaseError]
    what: str

    def fail(self, where: str, problem: str) -> ReleaseError:
        return self.error(f"{self.what}: {where} {problem}")

    def object(self, value: Any, keys: frozenset[str] | set[str], where: str) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise self.fail(where, "must be a JSON object")
        missing = sorted(set(keys) - value.keys())
        unknown = sorted(value.keys() - set(keys))
        if missing:
            raise self.fail(where, f"lacks field(s) {', '.join(missing)}")
        if unknown:
            raise self.fail(where, f"has unknown field(s) {', '.join(unknown)}")
        return value

    def mapping(self, value: Any, where: str) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise self.fail(where, "must be a JSON object")
        return value

    def array(self, value: Any, where: str) -> list[Any]:
        if not isinstance(value, list):
            raise self.fail(where, "must be a JSON array")
        return value

    def integer(self, value: Any, where: str, minimum: int = 0, maximum: int = MAX_UINT64) -> int:
        try:
            return strict_integer(value, minimum, maximum)
        except ValueError as exc:
            raise self.fail(where, str(exc)) from None

    def string(
        self, value: Any, where: str, pattern: re.Pattern[str] | None = None, meaning: str = ""
    ) -> str:
        if not isinstance(value, str):
            raise self.fail(where, "must be a string")
        if pattern is not None and not pattern.fullmatch(value):
            raise self.fail(where, f"must be {meaning or pattern.pattern}, not {value!r}")
        return value

    def hex_digest(self, value: Any, where: str, length: int) -> str:
        text = self.string(value, where)
        if len(text) != length or not _HEX_RE.fullmatch(text):
            raise self.fail(where, f"must be {length} lowercase hex digits")
        return text

    def base64(self, value: Any, where: str) -> bytes:
        text = self.string(value, where)
        try:
            data = base64.b64decode(text.encode("ascii"), validate=True)
        except (UnicodeEncodeError, binascii.Error):
            raise self.fail(where, "is not valid base64") from None
        # Several strings decode to the same bytes (padding bits); only the
        # canonical one is accepted, so an envelope has exactly one spelling.
        if encode_base64(data) != text:
            raise self.fail(where, "is not canonical base64")
        return data

    def timestamp(self, value: Any, where: str) -> datetime:
        text = self.string(value, where)
        try:
            return parse_timestamp(text)
        except ValueError as exc:
            raise self.fail(where, str(exc)) from None
