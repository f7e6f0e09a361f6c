"""Reading a TOML file against a schema: the one way warmboot checks its config files.

board.toml, sources.lock.toml and the lab configuration each declare a schema
with the pieces below; `parse` (TOML text) or `check` (parsed data) refuses a
file on its first problem, with one line that names the file, where the key
is and the reason, raised as the caller's own exception type:

    /…/board.toml: [qemu]: smp: expected an integer, got a boolean
    /…/board.toml: [qemu]: unknown key 'smpp' (did you mean 'smp'?)
    /…/lab.toml: place 'bench-1' [flashrom]: programmer: missing (is 'programer' a typo of it?)

Unknown keys are errors (a typo must not silently drop a setting), and a
boolean never passes as an integer or a number (Python's bool is an int).
What the schema cannot say (a path that must exist, a value from a fixed set,
a regular expression) each module checks afterwards on the returned
`Section`, whose `error(key, problem)` words it the same way.

Hand-written rather than a library: pydantic v2 (extra="forbid", strict)
checks the same things but reports several errors over multiple lines,
without a did-you-mean, so its errors would need a translation layer about
the size of this module, plus a compiled dependency; msgspec reports only
the first error as fixed English with a `$.qemu.smp` path and no suggestions.
"""

from __future__ import annotations

import difflib
import re
import tomllib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

_TYPE_NAMES = {
    str: "a string",
    int: "an integer",
    float: "a number",
    bool: "a boolean",
    list: "a list",
    dict: "a table",
}

ErrorType = Callable[[str], Exception]


@dataclass(frozen=True)
class List:
    """A TOML array whose items all match `item`; read as a tuple."""

    item: Schema


@dataclass(frozen=True)
class Table:
    """A TOML table with known keys: each a schema (required) or a `Key` (with a default)."""

    keys: Mapping[str, Schema | Key]


@dataclass(frozen=True)
class Map:
    """A TOML table of named entries (`[places.NAME]`), each matching `value`.

    `label` formats an entry's location in messages from its name, e.g.
    "place {!r}" gives "place 'bench-1'"; a name that `names` does not match
    in full is refused with `rule`, before its entry is read."""

    value: Schema
    label: str = "[{}]"
    names: re.Pattern[str] | None = None
    rule: str = ""


@dataclass(frozen=True)
class Either:
    """One of several schemas, chosen by the value's TOML type (a string or a list)."""

    choices: tuple[Schema, ...]

    def __init__(self, *choices: Schema):
        object.__setattr__(self, "choices", choices)


@dataclass(frozen=True)
class Variant:
    """A table read against `present` when it sets `key`, else against `absent`: two
    kinds of entry that share a map (a lab place reached through labgrid or not)."""

    key: str
    present: Table
    absent: Table


Schema = type | tuple[type, ...] | List | Table | Map | Either | Variant


@dataclass(frozen=True)
class Key:
    """An optional key and the value it reads as when absent. A table's or a map's
    default `{}` reads as an empty table, so its own keys' defaults apply."""

    schema: Schema
    default: Any = None


class Section:
    """A checked table, list entry or map: values by key, defaults filled in.

    `section[key]` is the value (or the key's default); `key in section` says
    whether the file set it; iterating a map's section gives its entry names."""

    def __init__(
        self, values: dict[str, Any], given: frozenset[str], where: str, file: str, error: ErrorType
    ):
        self._values = values
        self._given = given
        self.where = where  # the location in the file: "[qemu]", "place 'bench-1' [power]"
        self._file = file
        self._error = error

    def __getitem__(self, key: str) -> Any:
        return self._values[key]

    def __contains__(self, key: object) -> bool:
        return key in self._given

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def items(self) -> Iterator[tuple[str, Any]]:
        return iter(self._values.items())

    def error(self, key: str | None, problem: str) -> Exception:
        """The caller's exception for a problem with `key` here (or with the whole table)."""
        return self._error(_message(self._file, self.where, key, problem))


def parse(text: str, path: Path | str, schema: Table, error: ErrorType) -> Section:
    """Parse TOML text read from `path` (named in messages) and check it against schema."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise error(f"{path}: not valid TOML: {exc}") from None
    return check(data, path, schema, error)


def check(data: Any, path: Path | str, schema: Table, error: ErrorType) -> Section:
    """Check parsed TOML data against schema; refuse it with error(one line) on the
    first problem."""
    return _Checker(str(path), error).value(data, schema, "", None)


def _message(file: str, where: str, key: str | None, problem: str) -> str:
    return ": ".join(part for part in (file, where, key, problem) if part)


def _describe(schema: Schema) -> str:
    if isinstance(schema, type):
        return _TYPE_NAMES.get(schema, schema.__name__)
    if isinstance(schema, tuple):
        return " or ".join(_describe(t) for t in schema)
    if isinstance(schema, List):
        return "a list"
    if isinstance(schema, Either):
        return " or ".join(_describe(c) for c in schema.choices)
    return "a table"


def _kind(value: Any) -> str:
    return _TYPE_NAMES.get(type(value), type(value).__name__)


def _python_types(schema: Schema) -> tuple[type, ...]:
    if isinstance(schema, type):
        return (schema,)
    if isinstance(schema, tuple):
        return schema
    if isinstance(schema, List):
        return (list,)
    if isinstance(schema, Either):
        return tuple(t for c in schema.choices for t in _python_types(c))
    return (dict,)


def _close(word: str, candidates: list[str]) -> str | None:
    match = difflib.get_close_matches(word, candidates, 1, 0.6)
    return match[0] if match else None


class _Checker:
    def __init__(self, file: str, error: ErrorType):
        self.file = file
        self.error = error

    def fail(self, where: str, key: str | None, problem: str) -> Exception:
        return self.error(_message(self.file, where, key, problem))

    def value(self, value: Any, schema: Schema, where: str, key: str | None) -> Any:
        """Check one value; `where` locates the table holding it, `key` names it there
        (None: the value is the table at `where` itself)."""
        types = _python_types(schema)
        # bool is an int subclass: `smp = true` is a mistake, not 1.
        wrong = not isinstance(value, types) or (isinstance(value, bool) and bool not in types)
        if wrong:  # (not narrowed in place: value stays Any for the branches below)
            raise self.fail(where, key, f"expected {_describe(schema)}, got {_kind(value)}")
        if isinstance(schema, Either):
            schema = next(c for c in schema.choices if isinstance(value, _python_types(c)))
        if isinstance(schema, Variant):
            schema = schema.present if schema.key in value else schema.absent
        if isinstance(schema, List):
            return tuple(
                self.item(item, schema.item, where, f"{key or ''}[{index}]")
                for index, item in enumerate(value)
            )
        if isinstance(schema, Table):
            return self.table(value, schema, self.inside(where, key))
        if isinstance(schema, Map):
            inner = self.inside(where, key)
            entries = {}
            for name, entry in value.items():
                place = _join(inner if key is None else where, schema.label.format(name))
                if schema.names is not None and not schema.names.fullmatch(name):
                    raise self.fail(place, None, schema.rule)
                entries[name] = self.value(entry, schema.value, place, None)
            return Section(entries, frozenset(entries), inner, self.file, self.error)
        return value

    @staticmethod
    def inside(where: str, key: str | None) -> str:
        return where if key is None else _join(where, f"[{key}]")

    def item(self, item: Any, schema: Schema, where: str, name: str) -> Any:
        # A table in an array is located as "[boot] markers[0]", and its keys named
        # in it; any other item is named like a key, "firmware[1]".
        if isinstance(item, dict):
            return self.value(item, schema, _join(where, name), None)
        return self.value(item, schema, where, name)

    def table(self, data: dict, schema: Table, where: str) -> Section:
        missing = [
            key
            for key, spec in schema.keys.items()
            if not isinstance(spec, Key) and key not in data
        ]
        unknown = [key for key in data if key not in schema.keys]
        for key in missing:
            typo = _close(key, unknown)
            raise self.fail(
                where,
                key,
                f"missing (is {typo!r} a typo of it?)" if typo else f"missing key {key!r}",
            )
        if unknown:
            absent = [key for key in schema.keys if key not in data]
            words = []
            for key in unknown:
                guess = _close(key, absent)
                words.append(f"{key!r} (did you mean {guess!r}?)" if guess else repr(key))
            raise self.fail(
                where, None, f"unknown key{'s' if len(words) > 1 else ''} " + ", ".join(words)
            )
        values: dict[str, Any] = {}
        for key, spec in schema.keys.items():
            sub = spec.schema if isinstance(spec, Key) else spec
            if key in data:
                values[key] = self.value(data[key], sub, where, key)
            elif (
                isinstance(spec, Key)
                and isinstance(spec.default, dict)
                and isinstance(sub, (Table, Map, Variant))
            ):
                values[key] = self.value(spec.default, sub, where, key)
            else:
                assert isinstance(spec, Key)  # a missing required key was refused above
                values[key] = spec.default
        return Section(values, frozenset(data), where, self.file, self.error)


def _join(where: str, part: str) -> str:
    return f"{where} {part}" if where else part
