"""Programs from pinned Debian packages, with the libraries they load, for a
guest whose architecture is not the host's: the qemu-virt test OS saves its
dumps with Debian's arm64 makedumpfile, which the x86_64 host cannot ldd.

The packages (lock entries of kind debian-binary without `member`) are
unpacked whole by the sources machinery. What the program needs is read from
its ELF file instead of asked of ldd: the interpreter (PT_INTERP) and each
DT_NEEDED library, transitively, found in the directories the guest's
glibc searches by default. Each lands on the OS disk's sysroot/ at the path
its package installs it, as hostbin does for the host's programs, so the
initramfs links work the same way for both.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path, PurePosixPath

from elftools.common.exceptions import ELFError
from elftools.elf.dynamic import DynamicSection
from elftools.elf.elffile import ELFFile
from elftools.elf.segments import InterpSegment

from ..errors import WarmbootError
from .hostbin import DLOPENED, SYSROOT

# Debian's multiarch triplet of each ELF machine the boards run.
TRIPLETS = {"EM_AARCH64": "aarch64-linux-gnu", "EM_X86_64": "x86_64-linux-gnu"}
# Symbolic links followed inside the package trees before giving up.
MAX_LINKS = 16


class PackagedProgramError(WarmbootError):
    """A program or a library it needs is not in the pinned packages."""


def library_dirs(triplet: str) -> tuple[PurePosixPath, ...]:
    """Where Debian's glibc looks for a library without ld.so.cache, in order."""
    return tuple(
        PurePosixPath(d) for d in (f"/lib/{triplet}", f"/usr/lib/{triplet}", "/lib", "/usr/lib")
    )


def find(path: PurePosixPath, trees: Sequence[Path]) -> Path | None:
    """The regular file that path names in the merged package trees, following
    symbolic links the way the guest would; None if no tree has it."""
    for _ in range(MAX_LINKS):
        inside = path.relative_to("/")
        hit = next((h for t in trees if (h := _in_tree(t, inside))), None)
        if hit is None:
            return None
        if not hit.is_symlink():
            return hit if hit.is_file() else None
        target = PurePosixPath(os.readlink(hit))
        path = target if target.is_absolute() else path.parent / target
        path = PurePosixPath(os.path.normpath(path))
    return None


def _in_tree(tree: Path, inside: PurePosixPath) -> Path | None:
    """tree/inside if it exists (a dangling link counts) and its directory
    does not lead out of the tree through a linked directory; else None."""
    path = tree / inside
    if not (path.is_symlink() or path.exists()):
        return None
    return path if path.parent.resolve().is_relative_to(tree.resolve()) else None


def _elf_needs(file: Path) -> tuple[str, str | None, list[str]]:
    """(machine, interpreter, DT_NEEDED names) of an ELF file."""
    try:
        with file.open("rb") as f:
            elf = ELFFile(f)
            interp = next(
                (s.get_interp_name() for s in elf.iter_segments() if isinstance(s, InterpSegment)),
                None,
            )
            # pyelftools sets a DT_NEEDED tag's `needed` from the string table.
            needed = [
                str(getattr(tag, "needed"))  # noqa: B009 -- not in the type stubs
                for section in elf.iter_sections()
                if isinstance(section, DynamicSection)
                for tag in section.iter_tags()
                if tag.entry.d_tag == "DT_NEEDED"
            ]
            return elf["e_machine"], interp, needed
    except (ELFError, OSError) as exc:
        raise PackagedProgramError(f"{file} is not a readable ELF file: {exc}") from None


def program_files(
    program: str, trees: Sequence[Path], sources: Sequence[str] = ()
) -> dict[str, Path]:
    """Path in the guest -> file in a package tree, for program (its absolute
    path as the package installs it), its interpreter, every library it
    loads and the run-time loaded ones beside libc (hostbin.DLOPENED)."""
    where = ", ".join(sources) or ", ".join(str(t) for t in trees)
    path = PurePosixPath(program)
    if not path.is_absolute():
        raise PackagedProgramError(f"{program}: a program is named by its absolute path")
    binary = find(path, trees)
    if binary is None:
        raise PackagedProgramError(f"{program} is in none of the packages {where}")
    machine, interp, needed = _elf_needs(binary)
    triplet = TRIPLETS.get(machine)
    if triplet is None:
        raise PackagedProgramError(f"{program} is built for {machine}, which no board runs")
    files = {str(path): binary}
    if interp is not None:
        loader = find(PurePosixPath(interp), trees)
        if loader is None:
            raise PackagedProgramError(
                f"{interp}, the loader of {program}, is in none of the packages {where}"
            )
        files[interp] = loader
    dirs = library_dirs(triplet)
    # (library, who needs it, whether it may be absent: the DLOPENED ones)
    pending = [(name, str(path), False) for name in needed]
    # libc names the loader too; it is loaded already, as the interpreter.
    seen = {PurePosixPath(interp).name} if interp else set()
    while pending:
        name, user, optional = pending.pop(0)
        if name in seen:
            continue
        seen.add(name)
        hit = next(((d / name, f) for d in dirs if (f := find(d / name, trees))), None)
        if hit is None and optional:
            continue
        if hit is None:
            raise PackagedProgramError(
                f"{name}, which {user} needs, is in none of the packages {where}"
            )
        guest, file = hit
        files[str(guest)] = file
        if name.startswith("libc.so"):
            pending += [(extra, name, True) for extra in DLOPENED]
        pending += [(lib, name, False) for lib in _elf_needs(file)[2]]
    return files


def sysroot_files(
    programs: Sequence[str], trees: Sequence[Path], sources: Sequence[str] = ()
) -> dict[str, Path]:
    """Path on the OS disk (sysroot/...) -> file in a package tree, for the
    programs and what they load (the shape of hostbin.sysroot_files)."""
    return {
        f"{SYSROOT}{guest}": file
        for program in programs
        for guest, file in program_files(program, trees, sources).items()
    }
