"""Generate the C view of the PMT and the field tables of docs/pmt.md from
the one definition in warmboot.pmt.spec.

The C header comes in two flavours of the same text: payloads/libpmt/pmt.h,
which coreboot's site-local code and the payload tools include, and the
kernel's drivers/firmware/warmboot/pmt.h, which lives inside the kernel
patch that adds the driver (linuxboot/patches/linux-6.1/). All outputs are
committed; tests regenerate them in memory and fail when one drifts.
`warmboot pmt gen` rewrites them, `--check` only compares.
"""

from __future__ import annotations

import enum
import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

from ..pmt import DEFAULT_LIMITS, spec
from ..pmt.spec import Field, Layout, PmtError
from . import cbtable, devicetree

REPO_ROOT = Path(__file__).resolve().parents[3]
HEADER_PATH = REPO_ROOT / "payloads" / "libpmt" / "pmt.h"
# The enum values' names for messages: firmware and the payload tools only,
# so the kernel's copy of pmt.h (and its build) does not change with them.
NAMES_PATH = REPO_ROOT / "payloads" / "libpmt" / "pmt_names.h"
DOC_PATH = REPO_ROOT / "docs" / "pmt.md"
# The kernel patch series and the file in it that is pmt.h.
KERNEL_PATCHES = REPO_ROOT / "linuxboot" / "patches" / "linux-6.1"
KERNEL_HEADER = "drivers/firmware/warmboot/pmt.h"
REGENERATE = "warmboot pmt gen"

_C_OWNER_TAG = {
    spec.Owner.OS: "",
    spec.Owner.FIRMWARE: " [fw]",
    spec.Owner.SPLIT: " [bits 16-31: fw]",
}
_C_TYPES = {"u8": "uint8_t", "u16": "uint16_t", "u32": "uint32_t", "u64": "uint64_t"}


def _c_field(f: Field) -> str:
    array = f"[{f.count}]" if f.count > 1 else ""
    return f"\t{_C_TYPES[f.kind]} {f.name}{array};"


def _c_layout(layout: Layout) -> list[str]:
    p = layout.c_prefix
    lines = [f"/* {layout.name}: {layout.size} bytes */", f"#define {p}_V1_SIZE {layout.size}"]
    if layout.under_crc:
        fw_start, fw_end = layout.firmware_bytes()
        lines += [
            f"/* Firmware-owned bytes [{fw_start}, {fw_end}): read as 0 by the CRC. */",
            f"#define {p}_FW_START {fw_start}",
            f"#define {p}_FW_END {fw_end}",
        ]
    lines += [f"#define {p}_OFF_{f.name.upper()} {layout.offsets[f.name]}" for f in layout.fields]
    lines += ["", f"struct {layout.c_struct} {{"]
    width = max(len(_c_field(f).expandtabs(8)) for f in layout.fields)
    for f in layout.fields:
        text = _c_field(f)
        pad = "\t" * (width // 8 + 1 - len(text.expandtabs(8)) // 8)
        owner = _C_OWNER_TAG[f.owner]
        lines.append(f"{text}{pad}/* {f.doc}{owner} */")
    lines += [
        "};",
        "",
        f"_Static_assert(sizeof(struct {layout.c_struct}) == {layout.size},",
        f'\t       "{layout.c_struct} size");',
    ]
    for f in layout.fields:
        lines += [
            f"_Static_assert(offsetof(struct {layout.c_struct}, {f.name}) == "
            f"{layout.offsets[f.name]}",
            f"\t       && sizeof(((struct {layout.c_struct} *)0)->{f.name}) == {f.size},",
            f'\t       "{layout.c_struct}.{f.name} offset and size");',
        ]
    return [*lines, ""]


def _c_enum(name: str, prefix: str, members: list[tuple[str, int]], doc: str) -> list[str]:
    lines = [f"/* {doc} */", f"enum {name} {{"]
    lines += [f"\t{prefix}{member} = {value}," for member, value in members]
    return [*lines, "};", ""]


def _c_bits(prefix: str, flags: type[enum.IntFlag], doc: str) -> list[str]:
    lines = [f"/* {doc} */"]
    for flag in flags:
        lines.append(f"#define {prefix}{flag.name} (1u << {flag.value.bit_length() - 1})")
    return [*lines, ""]


def _members(enum_type: type[enum.IntEnum]) -> list[tuple[str, int]]:
    return [(m.name, m.value) for m in enum_type]


def _regs(names: tuple[str, ...]) -> list[tuple[str, int]]:
    return [(n.upper(), i) for i, n in enumerate(names)]


_C_ENUMS = (
    ("pmt_entry_type", "PMT_ENTRY_", _members(spec.EntryType), "entry.type"),
    (
        "pmt_entry_status",
        "PMT_STATUS_",
        _members(spec.EntryStatus),
        "entry.fw_status, written by firmware",
    ),
    (
        "pmt_reset_cause",
        "PMT_RESET_",
        _members(spec.ResetCause),
        "header.reset_cause, written by firmware",
    ),
    (
        "pmt_cookie_kind",
        "PMT_COOKIE_",
        _members(spec.CookieKind),
        "lb_warmboot_pmt.cookie_kind: where the arm cookie goes",
    ),
    (
        "pmt_reject_reason",
        "PMT_REJECT_",
        _members(spec.RejectReason),
        "header.reject_reason; also pmt_validate()'s result",
    ),
    (
        "pmt_x86_64_greg",
        "PMT_X86_64_",
        _regs(spec.X86_64_GREGS),
        "x86_64 gregs[] index: elf_gregset_t order",
    ),
    (
        "pmt_aarch64_greg",
        "PMT_AARCH64_",
        _regs(spec.AARCH64_GREGS),
        "aarch64 gregs[] index: elf_gregset_t order",
    ),
    ("pmt_x86_64_sysreg", "PMT_X86_64_SYS_", _regs(spec.X86_64_SYSREGS), "x86_64 sysregs[] index"),
    (
        "pmt_aarch64_sysreg",
        "PMT_AARCH64_SYS_",
        _regs(spec.AARCH64_SYSREGS),
        "aarch64 sysregs[] index",
    ),
)


def _c_devicetree_names() -> list[str]:
    """The device-tree binding's names (docs/handoff.md) as PMT_DT_*."""
    lines = ["/* Device-tree binding: /chosen properties, /reserved-memory nodes. */"]
    for suffix, value in devicetree.C_NAMES:
        text = f'"{value}"' if isinstance(value, str) else str(value)
        lines.append(f"#define PMT_DT_{suffix} {text}")
    return [*lines, ""]


def render_header(kernel: bool = False) -> str:
    """The full text of payloads/libpmt/pmt.h, or with kernel=True of the
    kernel's copy (kernel includes and include guard, the same definitions)."""
    guard = "_WARMBOOT_PMT_H" if kernel else "WARMBOOT_PMT_H"
    includes = (
        ["#include <linux/stddef.h>", "#include <linux/types.h>"]
        if kernel
        else ["#include <stddef.h>", "#include <stdint.h>"]
    )
    lines = [
        "/* SPDX-License-Identifier: GPL-2.0-only */",
        "/*",
        " * Preserved-memory table (PMT) v1: wire layout, enums and flags.",
        " *",
        f" * GENERATED from python/warmboot/pmt/spec.py by `{REGENERATE}`;",
        " * do not edit. docs/pmt.md is the spec. All fields are little-endian;",
        " * the structs match the wire layout on little-endian machines (asserted",
        " * below), but the readers read bytes and need neither.",
        " */",
        "",
        f"#ifndef {guard}",
        f"#define {guard}",
        "",
        *includes,
        "",
        f'#define PMT_MAGIC "{spec.MAGIC.decode("ascii")}"',
        f"#define PMT_MAGIC_SIZE {len(spec.MAGIC)}",
        f"#define PMT_MAJOR {spec.MAJOR}",
        f"#define PMT_MINOR {spec.MINOR}",
        f"#define PMT_PAGE_SIZE {spec.PAGE_SIZE}",
        f"#define PMT_NOTE_ALIGN {spec.NOTE_ALIGN}",
        f"#define PMT_SIZE_GRANULE {spec.SIZE_GRANULE}",
        f"#define PMT_NO_ENTRY {spec.NO_ENTRY:#x}u",
        f"#define PMT_EM_X86_64 {spec.EM_X86_64}",
        f"#define PMT_EM_AARCH64 {spec.EM_AARCH64}",
        f"#define PMT_OS_FLAGS_MASK {spec.OS_FLAGS_MASK:#010x}u",
        f"#define PMT_FW_FLAGS_MASK {spec.FW_FLAGS_MASK:#010x}u",
        f"#define PMT_CPU_RECORD_MAGIC {spec.CPU_RECORD_MAGIC:#010x}u",
        f"#define PMT_CPU_RECORD_VERSION {spec.CPU_RECORD_VERSION}",
        f"#define PMT_MAX_GREGS {spec.MAX_GREGS}",
        f"#define PMT_MAX_SYSREGS {spec.MAX_SYSREGS}",
        f"#define PMT_X86_64_NREGS {len(spec.X86_64_GREGS)}",
        f"#define PMT_AARCH64_NREGS {len(spec.AARCH64_GREGS)}",
        f"#define PMT_PRSTATUS_PR_REG_OFFSET {spec.PRSTATUS_PR_REG_OFFSET}",
        f"#define PMT_DEFAULT_MAX_ENTRIES {DEFAULT_LIMITS.max_entries}",
        f"#define PMT_DEFAULT_MAX_CPUS {DEFAULT_LIMITS.max_cpus}",
        f"#define PMT_MAILBOX_MAGIC {spec.MAILBOX_MAGIC:#x}ull",
        f"#define PMT_MAILBOX_SIZE {spec.MAILBOX_SIZE}",
        f"#define PMT_CMOS_COOKIE_SIZE {spec.CMOS_COOKIE_SIZE}",
        f"#define PMT_DEFAULT_FIRMWARE_LOW_END {spec.DEFAULT_FIRMWARE_LOW_END:#x}ull",
        "",
    ]
    for layout in spec.LAYOUTS:
        lines += _c_layout(layout)
    # The coreboot table record that advertises the anchor (docs/handoff.md).
    lines += [f"#define LB_TAG_WARMBOOT_PMT {cbtable.LB_TAG_WARMBOOT_PMT:#010x}u", ""]
    lines += _c_layout(cbtable.PMT_RECORD_LAYOUT)
    lines += [
        "/* Layout 1 of the record ended here; its readers skip the rest by size. */",
        f"#define LB_WARMBOOT_PMT_LAYOUT1_SIZE {cbtable.PMT_RECORD_LAYOUT1_SIZE}",
        "",
    ]
    lines += _c_devicetree_names()
    for c_name, prefix, members, doc in _C_ENUMS:
        lines += _c_enum(c_name, prefix, members, doc)
    lines += _c_bits("PMT_FLAG_", spec.PmtFlags, "header.flags")
    lines += _c_bits("PMT_CPU_", spec.CpuRecordFlags, "cpu record flags")
    lines += [f"#endif /* {guard} */", ""]
    return "\n".join(lines)


# --- the kernel's copy, inside the patch that adds the driver -------------

_HUNK = re.compile(
    r"(?ms)^diff --git a/(?P<path>\S+) b/(?P=path)\nnew file mode \d+\n"
    r"index 0+\.\.(?P<index>[0-9a-f]+)\n--- /dev/null\n\+\+\+ b/(?P=path)\n"
    r"@@ -0,0 \+1,(?P<count>\d+) @@\n"
)


def kernel_patch() -> Path | None:
    """The patch of the series that adds the kernel's pmt.h, if any."""
    for patch in sorted(KERNEL_PATCHES.glob("*.patch")):
        if f"+++ b/{KERNEL_HEADER}\n" in patch.read_text(encoding="utf-8"):
            return patch
    return None


def _blob_id(text: str) -> str:
    """git's object id of a file with this text (its index line abbreviates it)."""
    data = text.encode("utf-8")
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def embed_in_patch(patch: str, path: str, text: str) -> str:
    """patch with the new file `path` carrying `text`: its lines, its hunk
    header, its index line and its line in the diffstat follow."""
    m = next((m for m in _HUNK.finditer(patch) if m["path"] == path), None)
    if m is None:
        raise PmtError(f"no new file {path} in the kernel patch")
    old_count = int(m["count"])
    body_start = m.end()
    body_end = body_start
    for _ in range(old_count):
        body_end = patch.index("\n", body_end) + 1
    lines = text.splitlines()
    width = len(m["index"])
    header = (
        f"diff --git a/{path} b/{path}\nnew file mode 100644\n"
        f"index {'0' * width}..{_blob_id(text)[:width]}\n--- /dev/null\n+++ b/{path}\n"
        f"@@ -0,0 +1,{len(lines)} @@\n"
    )
    out = patch[: m.start()] + header + "".join(f"+{ln}\n" for ln in lines) + patch[body_end:]
    stat = re.compile(rf"(?m)^( {re.escape(path)}\s+\| )(\d+) (\+*)$")
    return stat.sub(lambda s: f"{s[1]}{len(lines)} {'+' * min(len(lines), len(s[3]))}", out)


# --- docs/pmt.md ---------------------------------------------------------


def _md_layout(layout: Layout) -> str:
    rows = [
        "| offset | size | type | field | written by | meaning |",
        "| ---: | ---: | --- | --- | --- | --- |",
    ]
    for f in layout.fields:
        kind = f"{f.kind}[{f.count}]" if f.count > 1 else f.kind
        rows.append(
            f"| {layout.offsets[f.name]} | {f.size} | {kind} | `{f.name}` | "
            f"{f.owner.value} | {f.doc} |"
        )
    rows.append(f"| {layout.size} | | | *end of v1 {layout.name}* | | |")
    return "\n".join(rows)


def _md_enum(enum_type: type[enum.Enum], hex_values: bool = False) -> str:
    rows = ["| value | name |", "| ---: | --- |"]
    for m in enum_type:
        rows.append(
            f"| {m.value:#x} | `{m.name}` |" if hex_values else f"| {m.value} | `{m.name}` |"
        )
    return "\n".join(rows)


def _md_regs() -> str:
    rows = [
        "| index | x86_64 gregs | aarch64 gregs | x86_64 sysregs | aarch64 sysregs |",
        "| ---: | --- | --- | --- | --- |",
    ]
    columns = (spec.X86_64_GREGS, spec.AARCH64_GREGS, spec.X86_64_SYSREGS, spec.AARCH64_SYSREGS)
    for i in range(spec.MAX_GREGS):
        cells = [f"`{c[i]}`" if i < len(c) else "" for c in columns]
        rows.append(f"| {i} | " + " | ".join(cells) + " |")
    return "\n".join(rows)


def doc_sections() -> dict[str, str]:
    """Generated Markdown for each `<!-- BEGIN GENERATED: name -->` block."""
    return {
        "header": _md_layout(spec.HEADER),
        "entry": _md_layout(spec.ENTRY),
        "cpu-record": _md_layout(spec.CPU_RECORD),
        "entry-types": _md_enum(spec.EntryType),
        "entry-status": _md_enum(spec.EntryStatus),
        "flags": _md_enum(spec.PmtFlags, hex_values=True),
        "reset-cause": _md_enum(spec.ResetCause),
        "reject-reasons": _md_enum(spec.RejectReason),
        "cpu-record-flags": _md_enum(spec.CpuRecordFlags, hex_values=True),
        "registers": _md_regs(),
    }


_BLOCK = re.compile(
    r"(<!-- BEGIN GENERATED: (?P<name>[\w-]+) -->\n)(?P<body>.*?)"
    r"(<!-- END GENERATED: (?P=name) -->)",
    re.S,
)


def update_doc(text: str) -> str:
    """`text` with every generated block replaced by its current content;
    every known block must be present exactly once."""
    sections = doc_sections()
    seen: list[str] = []

    def fill(match: re.Match[str]) -> str:
        name = match["name"]
        if name not in sections:
            raise PmtError(f"{DOC_PATH.name}: unknown generated block {name!r}")
        seen.append(name)
        return f"{match[1]}{sections[name]}\n{match[4]}"

    out = _BLOCK.sub(fill, text)
    missing = sorted(set(sections) - set(seen))
    if missing or len(seen) != len(set(seen)):
        raise PmtError(
            f"{DOC_PATH.name}: generated blocks missing or repeated: {missing or sorted(seen)}"
        )
    return out


@dataclass(frozen=True)
class Output:
    path: Path
    current: str
    wanted: str

    @property
    def stale(self) -> bool:
        return self.current != self.wanted


def _c_string_table(macro: str, names: dict[int, str], doc: str) -> list[str]:
    """`#define macro { ... }`: names[value] at each index up to the largest, NULL between."""
    cells = [f'"{names[i]}"' if i in names else "NULL" for i in range(max(names) + 1)]
    return [f"/* {doc} */", f"#define {macro} {{ \\", *(f"\t{c}, \\" for c in cells), "}", ""]


def render_names() -> str:
    """The full text of payloads/libpmt/pmt_names.h."""
    untold = set(spec.RejectReason) - set(spec.REJECT_REASON_TEXT)
    if untold:
        raise PmtError(f"spec.REJECT_REASON_TEXT lacks {sorted(r.name for r in untold)}")

    def named(enum_type: type[enum.IntEnum]) -> dict[int, str]:
        return {value: name for name, value in _members(enum_type)}

    tables = (
        ("PMT_ENTRY_TYPE_NAMES", named(spec.EntryType), "enum pmt_entry_type"),
        ("PMT_STATUS_NAMES", named(spec.EntryStatus), "enum pmt_entry_status"),
        ("PMT_RESET_CAUSE_NAMES", named(spec.ResetCause), "enum pmt_reset_cause"),
        ("PMT_REJECT_NAMES", named(spec.RejectReason), "enum pmt_reject_reason"),
        (
            "PMT_REJECT_TEXTS",
            {int(r): text for r, text in spec.REJECT_REASON_TEXT.items()},
            "enum pmt_reject_reason, as firmware's console says it",
        ),
    )
    lines = [
        "/* SPDX-License-Identifier: GPL-2.0-only */",
        "/*",
        " * Names of the PMT's enum values (pmt.h), for messages.",
        " *",
        f" * GENERATED from python/warmboot/pmt/spec.py by `{REGENERATE}`;",
        " * do not edit. Each macro initializes an array indexed by value, NULL",
        " * where no value is defined:",
        " *   static const char *const names[] = PMT_REJECT_NAMES;",
        " * Firmware and the payload tools use it; the kernel does not.",
        " */",
        "",
        "#ifndef WARMBOOT_PMT_NAMES_H",
        "#define WARMBOOT_PMT_NAMES_H",
        "",
        "#include <stddef.h>",
        "",
    ]
    for macro, names, doc in tables:
        lines += _c_string_table(macro, names, doc)
    return "\n".join([*lines, "#endif /* WARMBOOT_PMT_NAMES_H */", ""])


def outputs(header_path: Path = HEADER_PATH, doc_path: Path = DOC_PATH) -> list[Output]:
    """Each generated file with its committed and its wanted text."""

    def read(path: Path) -> str:
        try:
            return path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return ""
        except OSError as exc:
            raise PmtError(f"cannot read {path}: {exc.strerror}") from exc

    if not doc_path.exists():
        raise PmtError(f"{doc_path} does not exist; it holds the spec around the tables")
    doc = read(doc_path)
    outs = [
        Output(header_path, read(header_path), render_header()),
        Output(doc_path, doc, update_doc(doc)),
    ]
    patch = kernel_patch() if header_path == HEADER_PATH else None
    if patch:
        text = read(patch)
        outs.append(
            Output(patch, text, embed_in_patch(text, KERNEL_HEADER, render_header(kernel=True)))
        )
    if header_path == HEADER_PATH:
        outs.append(Output(NAMES_PATH, read(NAMES_PATH), render_names()))
    return outs


def write(header_path: Path = HEADER_PATH, doc_path: Path = DOC_PATH) -> list[Path]:
    """Rewrite the generated files that drifted; return those rewritten."""
    written = []
    for out in outputs(header_path, doc_path):
        if out.stale:
            out.path.parent.mkdir(parents=True, exist_ok=True)
            out.path.write_text(out.wanted, encoding="utf-8")
            written.append(out.path)
    return written
