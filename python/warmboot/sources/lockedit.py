"""Rewrite pins in the lock file in place, keeping its comments and layout.

Only a pin's `version`, `package_version` and files blocks are replaced. The
result is parsed back and must say exactly what was asked, every other pin
unchanged, before it replaces the lock in one rename; otherwise the lock is
left as it was.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
import tomllib
from pathlib import Path

from .errors import LockError, LockRewriteError
from .lock import PinnedSource, load_lock, parse_lock

_HEADER = re.compile(r"^\s*\[")
_KEY = re.compile(r"""^(\s*)(version|package_version)(\s*=\s*)("[^"]*"|'[^']*')(.*)$""")


def _table_re(name: str, files: bool) -> re.Pattern:
    key = rf"(?:{re.escape(name)}|\"{re.escape(name)}\")"
    if files:
        return re.compile(rf"^\s*\[\[\s*sources\s*\.\s*{key}\s*\.\s*files\s*\]\]\s*(#.*)?$")
    return re.compile(rf"^\s*\[\s*sources\s*\.\s*{key}\s*\]\s*(#.*)?$")


def _toml_str(value: str) -> str:
    # JSON's string escapes are all valid in TOML basic strings.
    return json.dumps(value, ensure_ascii=False)


def _files_block(header: str, new: PinnedSource) -> list[str]:
    lines: list[str] = []
    for f in new.files:
        if lines:
            lines.append("")
        lines += [header, f"name = {_toml_str(f.name)}", f"sha256 = {_toml_str(f.sha256)}"]
        if f.urls:
            lines.append("urls = [" + ", ".join(_toml_str(u) for u in f.urls) + "]")
    return lines


def _edit(lines: list[str], new: PinnedSource, path: Path) -> list[str]:
    table, files = _table_re(new.name, False), _table_re(new.name, True)
    start = next((i for i, ln in enumerate(lines) if table.match(ln)), None)
    if start is None:
        raise LockRewriteError(f"{path}: no [sources.{new.name}] table to rewrite")
    end = next(
        (
            i
            for i in range(start + 1, len(lines))
            if _HEADER.match(lines[i]) and not files.match(lines[i])
        ),
        len(lines),
    )
    first = next((i for i in range(start + 1, end) if files.match(lines[i])), None)
    if first is None:
        raise LockRewriteError(
            f"{path}: sources.{new.name} has no [[sources.{new.name}.files]] "
            "blocks to rewrite (edit it by hand)"
        )
    # Comments and blank lines after the last key belong to what follows.
    last = max(
        i for i in range(first, end) if lines[i].strip() and not lines[i].lstrip().startswith("#")
    )
    head = list(lines[start:first])
    wanted = {"version": new.version, "package_version": new.package_version}
    for i, line in enumerate(head):
        m = _KEY.match(line)
        if m and m.group(2) in wanted:
            head[i] = (
                m.group(1) + m.group(2) + m.group(3) + _toml_str(wanted[m.group(2)]) + m.group(5)
            )
    block = _files_block(lines[first].split("#", 1)[0].rstrip(), new)
    return lines[:start] + head + block + lines[last + 1 :]


def _write_atomically(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(tmp, path.stat().st_mode & 0o7777)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    # The rename itself survives a crash only once the directory is on disk.
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def rewrite_lock(path: Path, new: dict[str, PinnedSource]) -> None:
    """Replace the named pins in the lock at path with new's, atomically."""
    path = Path(path)
    old = load_lock(path)
    text = path.read_text()
    lines = text.splitlines()
    for pinned in new.values():
        lines = _edit(lines, pinned, path)
    result = "\n".join(lines) + ("\n" if text.endswith("\n") else "")
    try:
        parsed = parse_lock(tomllib.loads(result), path)
    except (tomllib.TOMLDecodeError, LockError) as exc:
        raise LockRewriteError(
            f"{path}: the rewritten lock would not parse ({exc}); it was left unchanged"
        ) from None
    expected = {**old.sources, **new}
    if parsed.sources != expected:
        wrong = sorted(n for n in expected if parsed.sources.get(n) != expected[n])
        raise LockRewriteError(
            f"{path}: rewriting would not give the intended pins for "
            f"{', '.join(wrong) or 'the table set'}; the lock was left "
            "unchanged (edit it by hand)"
        )
    _write_atomically(path, result)
