"""Every firmware<->OS fact is written once, in Python (warmboot.pmt.spec,
warmboot.handoff.cbtable, warmboot.handoff.devicetree). The firmware, the
payload tools and the kernel patches reach it through the generated pmt.h;
a literal copy anywhere else is drift waiting to happen."""

from __future__ import annotations

import ast
import functools
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from warmboot.handoff import cbtable, cgen, devicetree
from warmboot.pmt import spec

TOP = cgen.REPO_ROOT
DEFINERS = {
    TOP / "python/warmboot/pmt/spec.py",
    TOP / "python/warmboot/handoff/cbtable.py",
    TOP / "python/warmboot/handoff/devicetree.py",
}
GENERATED = {"pmt.h", "pmt_names.h"}

STRINGS = sorted(
    {value for _, value in devicetree.C_NAMES if isinstance(value, str)}
    | {spec.MAGIC.decode("ascii"), spec.MAILBOX_MAGIC.to_bytes(8, "little").decode("ascii")}
)
NUMBERS = {
    "LB_TAG_WARMBOOT_PMT": cbtable.LB_TAG_WARMBOOT_PMT,
    "MAILBOX_MAGIC": spec.MAILBOX_MAGIC,
    "CPU_RECORD_MAGIC": spec.CPU_RECORD_MAGIC,
}

_C_COMMENT = re.compile(r"/\*.*?\*/|//[^\n]*", re.S)
_PATCHED_FILE = re.compile(r"^\+\+\+ b/(\S+)$")


def _patch_code(patch: str, text: str) -> Iterator[tuple[str, str]]:
    """(patch:file, added lines) of each C file a patch adds to or changes."""
    name, lines = None, []
    for line in [*text.splitlines(), "+++ b/end"]:
        match = _PATCHED_FILE.match(line)
        if match:
            if name and name.endswith((".c", ".h")) and Path(name).name not in GENERATED:
                yield f"{patch}:{name}", "\n".join(lines)
            name, lines = match[1], []
        elif name and line.startswith("+"):
            lines.append(line[1:])


@functools.cache
def c_code() -> list[tuple[str, str]]:
    """(where, code without comments) of every C consumer of the shared facts."""
    return list(_c_code())


def _c_code() -> Iterator[tuple[str, str]]:
    roots = [TOP / "payloads", TOP / "coreboot-config/site-local"]
    for root in roots:
        for path in sorted(root.rglob("*.[ch]")):
            if path.name not in GENERATED:
                yield str(path.relative_to(TOP)), _C_COMMENT.sub("", path.read_text())
    patches = [TOP / "linuxboot/patches", TOP / "coreboot-config/patches"]
    for root in patches:
        for patch in sorted(root.rglob("*.patch")):
            for where, code in _patch_code(patch.name, patch.read_text()):
                yield where, _C_COMMENT.sub("", code)


@functools.cache
def python_constants() -> list[tuple[str, str | int]]:
    """(where, value) of every string and integer constant in warmboot's code,
    docstrings aside, outside the modules that define the facts."""
    return list(_python_constants())


def _python_constants() -> Iterator[tuple[str, str | int]]:
    for path in sorted((TOP / "python/warmboot").rglob("*.py")):
        if path in DEFINERS:
            continue
        tree = ast.parse(path.read_text())
        docstrings = {
            id(node.body[0].value)
            for node in ast.walk(tree)
            if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
            and node.body
            and isinstance(node.body[0], ast.Expr)
        }
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Constant)
                and id(node) not in docstrings
                and isinstance(node.value, str | int)
                and not isinstance(node.value, bool)
            ):
                yield f"{path.relative_to(TOP)}:{node.lineno}", node.value


@pytest.mark.parametrize("value", STRINGS)
def test_a_shared_name_is_spelled_out_only_where_it_is_defined(value: str) -> None:
    literal = f'"{value}"'
    copies = [where for where, code in c_code() if literal in code]
    copies += [where for where, constant in python_constants() if constant == value]
    assert not copies, f"{literal} is copied by hand in {copies}; use the generated PMT_* macro"


@pytest.mark.parametrize("name", sorted(NUMBERS))
def test_a_shared_number_is_written_only_where_it_is_defined(name: str) -> None:
    value = NUMBERS[name]
    literal = re.compile(rf"\b0x0*{value:x}(?:u?l{{0,2}})?\b", re.I)
    copies = [where for where, code in c_code() if literal.search(code)]
    copies += [where for where, constant in python_constants() if constant == value]
    assert not copies, f"{name} ({value:#x}) is copied by hand in {copies}"


def test_the_scan_sees_the_consumers_it_guards() -> None:
    """The scan reads the firmware, the payload tools and the kernel driver,
    and finds a copy when one is there."""
    where = dict(c_code())
    assert "PMT_DT_ANCHOR" in where["payloads/common/dtfw.c"]
    assert "PMT_DT_ANCHOR" in where["coreboot-config/site-local/warmboot/pmt_dt.c"]
    kernel = [w for w in where if w.endswith(":drivers/firmware/warmboot/of.c")]
    assert kernel and "PMT_DT_ANCHOR" in where[kernel[0]]
    assert '"warmboot,anchor"' not in _C_COMMENT.sub("", '/* "warmboot,anchor" */ x')
    patch = '--- a/x.c\n+++ b/x.c\n@@ -1 +1 @@\n f();\n+\tf("warmboot,anchor");\n'
    assert list(_patch_code("p", patch)) == [("p:x.c", '\tf("warmboot,anchor");')]
