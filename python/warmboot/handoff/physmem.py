"""Reading physical memory: from a live system, a raw image, or an ELF core.

Everything that parses firmware hand-off structures (coreboot tables, the
PMT) or copies preserved regions into a vmcore reads memory through one tiny
protocol, PhysicalMemory.read(addr, size), so the same code runs on
LinuxBoot against /dev/mem and in tests against a QEMU memory dump.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, runtime_checkable

from elftools.common.exceptions import ELFError
from elftools.elf.elffile import ELFFile

from ..errors import WarmbootError


class PhysicalMemoryError(WarmbootError):
    """A physical address range could not be read."""


@runtime_checkable
class PhysicalMemory(Protocol):
    """Physical memory that can be read at an address."""

    def read(self, addr: int, size: int) -> bytes:
        """Return exactly `size` bytes at physical `addr`, or raise
        PhysicalMemoryError."""
        ...


def _check_range(addr: int, size: int) -> None:
    if addr < 0 or size < 0:
        raise PhysicalMemoryError(f"bad physical range {addr:#x}+{size:#x}")


@dataclass(frozen=True)
class MemoryImage:
    """Physical memory held in a bytes object whose first byte is at `base`."""

    data: bytes
    base: int = 0

    def read(self, addr: int, size: int) -> bytes:
        _check_range(addr, size)
        start = addr - self.base
        if start < 0 or start + size > len(self.data):
            raise PhysicalMemoryError(
                f"{addr:#x}+{size:#x} is outside the image "
                f"[{self.base:#x}, {self.base + len(self.data):#x})"
            )
        return self.data[start : start + size]


class FileImage:
    """Physical memory read from a file whose offset 0 is physical `base`:
    a raw dump (QEMU `pmemsave`), or /dev/mem itself (base 0).

    Reads use pread, so one open file serves any number of readers and
    nothing is held in memory beyond what a caller asks for.
    """

    def __init__(self, path: str | os.PathLike[str], base: int = 0) -> None:
        self.path = Path(path)
        self.base = base
        try:
            self._fd = os.open(self.path, os.O_RDONLY)
        except OSError as exc:
            raise PhysicalMemoryError(f"cannot open {self.path}: {exc.strerror}") from exc

    def read(self, addr: int, size: int) -> bytes:
        _check_range(addr, size)
        offset = addr - self.base
        if offset < 0:
            raise PhysicalMemoryError(f"{addr:#x} is below {self.path}'s base {self.base:#x}")
        chunks = []
        done = 0
        while done < size:
            try:
                chunk = os.pread(self._fd, size - done, offset + done)
            except OSError as exc:
                raise PhysicalMemoryError(
                    f"cannot read {self.path} at {addr + done:#x}: {exc.strerror}"
                ) from exc
            if not chunk:
                raise PhysicalMemoryError(f"{addr:#x}+{size:#x} runs past the end of {self.path}")
            chunks.append(chunk)
            done += len(chunk)
        return b"".join(chunks)

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def __enter__(self) -> FileImage:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@dataclass(frozen=True)
class LoadedRange:
    """One PT_LOAD of an ELF core: physical range and where its bytes are."""

    paddr: int
    vaddr: int
    size: int
    file_offset: int


class ElfCoreMemory:
    """Physical memory described by the PT_LOAD segments of an ELF core file:
    a QEMU `dump-guest-memory` file, /proc/vmcore, or a warmboot vmcore.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._file = FileImage(self.path, base=0)
        try:
            with open(self.path, "rb") as stream:
                elf = ELFFile(stream)
                self.ranges = tuple(
                    LoadedRange(seg["p_paddr"], seg["p_vaddr"], seg["p_filesz"], seg["p_offset"])
                    for seg in elf.iter_segments()
                    if seg["p_type"] == "PT_LOAD" and seg["p_filesz"]
                )
        except (ELFError, OSError) as exc:
            self._file.close()
            raise PhysicalMemoryError(f"{self.path} is not a readable ELF core: {exc}") from exc

    def read(self, addr: int, size: int) -> bytes:
        _check_range(addr, size)
        parts = []
        while size:
            loaded = next((r for r in self.ranges if r.paddr <= addr < r.paddr + r.size), None)
            if loaded is None:
                raise PhysicalMemoryError(f"{addr:#x} is in no PT_LOAD of {self.path}")
            take = min(size, loaded.paddr + loaded.size - addr)
            parts.append(self._file.read(loaded.file_offset + addr - loaded.paddr, take))
            addr += take
            size -= take
        return b"".join(parts)

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> ElfCoreMemory:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_memory(path: str | os.PathLike[str], base: int = 0) -> FileImage | ElfCoreMemory:
    """Open a memory source by what it is: an ELF core (its PT_LOADs say where
    each byte lives) or a raw image starting at physical `base`."""
    path = Path(path)
    try:
        with open(path, "rb") as stream:
            magic = stream.read(4)
    except OSError as exc:
        raise PhysicalMemoryError(f"cannot open {path}: {exc.strerror}") from exc
    if magic == b"\x7fELF":
        return ElfCoreMemory(path)
    return FileImage(path, base)
