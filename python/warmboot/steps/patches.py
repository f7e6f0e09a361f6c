"""Patch series the build applies to pinned sources: coreboot's
(coreboot-config/patches/4.15/) and the test OS kernel's
(linuxboot/patches/linux-6.1/). Each patch is checked with --dry-run first,
so one that no longer applies stops the build naming it and changes nothing.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from .run import StepError, run_logged


def apply_patches(step: str, what: str, src: Path, patches: list[Path], log: Path) -> None:
    """Apply each patch to the tree src, checking first so that a bad one changes nothing."""
    for patch in patches:
        base = [
            "patch",
            "-p1",
            "--forward",
            "--batch",
            "--no-backup-if-mismatch",
            "-d",
            str(src),
            "-i",
            str(patch),
        ]
        try:
            run_logged(step, f"checking {patch.name}", [*base, "--dry-run"], log)
        except StepError:
            raise StepError(
                f"{step}: patch {patch} does not apply to {what}; patch's output is in {log}"
            ) from None
        run_logged(step, f"applying {patch.name}", base, log)


def patched_copy(
    step: str, what: str, tree: Path, dest: Path, patches: list[Path], log: Path
) -> Path:
    """dest: the verified tree as hard links, with the patches applied. patch(1)
    writes every file it changes anew (a new inode), so the tree in the source
    cache is never modified; copying a kernel tree this way takes seconds."""
    if dest.exists():
        shutil.rmtree(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    run_logged(step, f"linking {tree.name} to {dest}", ["cp", "-al", str(tree), str(dest)], log)
    apply_patches(step, what, dest, patches, log)
    return dest
