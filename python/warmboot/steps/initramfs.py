"""The initramfs archive: the list the kernel's usr/gen_init_cpio packs (in a
fixed order, every file staged with one fixed mtime) and its compression.
Used by the SCons tool and the benchmark."""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path

# LZ4 in the legacy frame the kernel's unpacker reads (CONFIG_RD_LZ4): under
# QEMU's TCG it unpacks about ten times faster than xz, which cost 0.7 s of
# every LinuxBoot boot and 1.2 s of every OS boot (docs/benchmarks.md), for
# archives about twice xz's size. Its decompressor needs no large dictionary
# either, so a kernel confined to little memory unpacks it too.
COMPRESS_ARGS = ["lz4", "-l", "-9", "-q", "-c"]
MTIME = "0"


def staged(src: Path, stage: Path) -> Path:
    """A copy of src with the fixed mtime: gen_init_cpio stores a regular
    file's own mtime (its -t applies only to directories, nodes and links)."""
    stage.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256(str(src).encode()).hexdigest()[:16]
    copy = stage / f"{digest}-{src.name}"
    shutil.copyfile(src, copy)
    os.chmod(copy, 0o644)
    os.utime(copy, (int(MTIME), int(MTIME)))
    return copy


def cpio_list(
    skeleton: Path,
    busybox: Path,
    rootfs: Path,
    extra: list[tuple[str, Path]],
    stage: Path,
    links: list[tuple[str, str]] | None = None,
) -> str:
    """The gen_init_cpio list: skeleton, busybox, rootfs/ files, extra (dest, src) files
    and links (path, target) symbolic links. Every file is staged under stage with the
    fixed mtime first."""
    lines = [ln for ln in skeleton.read_text().splitlines() if ln and not ln.startswith("#")]
    lines.append(f"file /bin/busybox {staged(busybox, stage)} 0755 0 0")
    made = {ln.split()[1] for ln in lines if ln.startswith("dir ")}
    for path in sorted(rootfs.rglob("*")):
        rel = "/" + path.relative_to(rootfs).as_posix()
        if path.is_dir():
            if rel not in made:
                lines.append(f"dir {rel} 0755 0 0")
                made.add(rel)
        else:
            mode = "0755" if os.access(path, os.X_OK) else "0644"
            lines.append(f"file {rel} {staged(path, stage)} {mode} 0 0")

    def parents(dest: str) -> None:
        for parent in reversed(Path(dest).parents[:-1]):
            if parent.as_posix() not in made:
                lines.append(f"dir {parent.as_posix()} 0755 0 0")
                made.add(parent.as_posix())

    for dest, src in sorted(extra):
        parents(dest)
        lines.append(f"file {dest} {staged(src, stage)} 0755 0 0")
    for dest, target in sorted(links or []):
        parents(dest)
        lines.append(f"slink {dest} {target} 0777 0 0")
    return "\n".join(lines) + "\n"
