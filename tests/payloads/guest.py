"""Booting the LinuxBoot kernel in QEMU with the payload tools inside.

The board's initramfs gets a second cpio archive appended, compressed the
same way (the kernel unpacks concatenated archives in order, later files
replacing earlier ones; an LZ4 legacy stream has no end marker, so an
uncompressed archive after it would be read as LZ4) holding the tools, the
test's /init and a small "memory image" pmtctl uses as its anchor: QEMU's
BIOS has no coreboot tables, so the guest's pmtctl finds firmware's record
there, while everything else it reads (/proc/iomem, /sys, /proc/cpuinfo,
kexec_load) is the real kernel's.
"""

from __future__ import annotations

import base64
import re
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from machines import X86_FIRMWARE, MiB, plant_firmware
from warmboot.handoff.cbtable import PmtRecord
from warmboot.qemu import QemuMachine, accel_args, kvm_works
from warmboot.steps.initramfs import COMPRESS_ARGS

# The guest's stand-in firmware hand-off (file offsets = physical addresses).
GUEST_ANCHOR, GUEST_ANCHOR_SIZE = 0x10_0000, 0x10000
GUEST_CBTABLE = 0x9000  # below 1 MiB: in no region the dump keeps
GUEST_BOOT_WINDOW = (0x20_0000, 1 * MiB)
GUEST_DEST = 0x3000_0000


@dataclass(frozen=True)
class CpioFile:
    name: str  # without the leading /
    mode: int  # including the file type bits
    data: bytes = b""


def newc_archive(files: list[CpioFile]) -> bytes:
    """An uncompressed cpio archive in the kernel's "newc" format."""
    out = bytearray()

    def entry(ino: int, name: str, mode: int, data: bytes) -> None:
        encoded = name.encode() + b"\0"
        fields = (ino, mode, 0, 0, 1, 0, len(data), 0, 0, 0, 0, len(encoded), 0)
        out.extend(b"070701" + b"".join(b"%08X" % f for f in fields) + encoded)
        out.extend(b"\0" * (-len(out) % 4))
        out.extend(data)
        out.extend(b"\0" * (-len(out) % 4))

    for ino, f in enumerate(files, start=1000):
        entry(ino, f.name, f.mode, f.data)
    entry(0, "TRAILER!!!", 0, b"")
    return bytes(out)


def extend_initramfs(base: bytes, files: list[CpioFile]) -> bytes:
    """base (the build's LZ4) then our archive as a second LZ4 stream, which the
    kernel's decompressor continues into at its magic number."""
    packed = subprocess.run(
        COMPRESS_ARGS, input=newc_archive(files), capture_output=True, check=True
    )
    return base + packed.stdout


def guest_memory_image(path: Path) -> bytes:
    """The anchor stand-in: coreboot's forward at 0x500, the record, an empty anchor."""
    with open(path, "wb") as f:
        f.truncate(GUEST_ANCHOR + GUEST_ANCHOR_SIZE)
    plant_firmware(
        path,
        PmtRecord(
            anchor_addr=GUEST_ANCHOR,
            anchor_size=GUEST_ANCHOR_SIZE,
            boot_window_base=GUEST_BOOT_WINDOW[0],
            boot_window_size=GUEST_BOOT_WINDOW[1],
            **X86_FIRMWARE,
        ),
        GUEST_CBTABLE,
    )
    return path.read_bytes()


# The smallest crashkernel= that holds the crash stub with kexec's control
# page and identity-map page tables on this 1 GiB, 2-CPU q35 guest: 24K fails
# with ENOMEM, 28K works (measured with the LinuxBoot kernel, Linux 6.1).
CRASHKERNEL_MIN = "28K"
CRASHKERNEL_TOO_SMALL = "24K"

# The guest's init: arm for real against the stand-in anchor, print what the
# kernel told it and what it wrote, then exit, which panics the kernel
# ("Attempted to kill init") and runs its crash path into the stub.
INIT = r"""#!/bin/sh
export PATH=/sbin:/bin:/usr/sbin:/usr/bin
/bin/busybox --install -s
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
echo "RELEASE $(uname -r)"
echo "VMCI $(cat /sys/kernel/vmcoreinfo)"
for c in /sys/devices/system/cpu/cpu[0-9]*; do
	echo "NOTES ${c##*cpu} $(cat $c/crash_notes) $(cat $c/crash_notes_size)"
done
grep "^apicid" /proc/cpuinfo | sed "s/^/CPUINFO /"
pmtctl --mem /fake/mem.img arm --dest @DEST@
echo "ARM-RC $?"
echo "CRASH-LOADED $(cat /sys/kernel/kexec_crash_loaded)"
pmtctl --mem /fake/mem.img status
for page in @PAGES@; do
	echo "PAGE $page"
	dd if=/fake/mem.img bs=4096 skip=$page count=1 2>/dev/null | base64
	echo "PAGE-END"
done
echo "@MARKER@" > /dev/kmsg
echo "warmboot-test: panicking"
# The tty drains its buffer by interrupts; the panic when init exits does not wait.
sleep 1
"""


@dataclass
class GuestRun:
    """What a guest that armed and then panicked left behind."""

    output: str  # its serial console
    status: str  # QEMU's run state after the panic
    rips: tuple[int, ...]  # each CPU's RIP then
    stub_bytes: bytes  # memory at the crash stub's address
    stub: int | None  # where pmtctl loaded it
    anchor_pages: dict[int, bytes]  # what pmtctl wrote: physical address -> page
    ram: Path | None  # pmemsave of all RAM at the reset


def guest_initrd(base: Path, pmtctl: Path, work: Path, marker: str) -> Path:
    pages = (GUEST_ANCHOR // 4096, (GUEST_ANCHOR + GUEST_ANCHOR_SIZE // 2) // 4096)
    init = (
        INIT.replace("@DEST@", f"{GUEST_DEST:#x}")
        .replace("@MARKER@", marker)
        .replace("@PAGES@", " ".join(map(str, pages)))
    )
    files = [
        CpioFile("fake", 0o40755),
        CpioFile("init", 0o100755, init.encode()),
        CpioFile("bin/pmtctl", 0o100755, pmtctl.read_bytes()),
        CpioFile("fake/mem.img", 0o100644, guest_memory_image(work / "fake-mem.img")),
    ]
    initrd = work / "initrd"
    initrd.write_bytes(extend_initramfs(base.read_bytes(), files))
    return initrd


def boot_and_panic(
    kernel: Path,
    initramfs: Path,
    pmtctl: Path,
    work: Path,
    crashkernel: str,
    marker: str,
    ram_bytes: int | None,
    reset_timeout: float = 20,
) -> GuestRun:
    """Boot the LinuxBoot kernel (nokaslr: stable addresses) with QEMU told to
    pause instead of resetting, so memory is as the reset found it; wait up to
    reset_timeout seconds after the panic for that; then save all RAM
    (ram_bytes of it) if asked."""
    initrd = guest_initrd(initramfs, pmtctl, work, marker)
    command = [
        "qemu-system-x86_64",
        "-M",
        "q35",
        "-m",
        "1G",
        "-smp",
        "2",
        "-nodefaults",
        "-display",
        "none",
        *accel_args("kvm" if kvm_works() else "tcg"),
        "-kernel",
        str(kernel),
        "-initrd",
        str(initrd),
        "-append",
        f"console=ttyS0 nokaslr crashkernel={crashkernel}",
        "-action",
        "reboot=shutdown,shutdown=pause",
    ]
    with QemuMachine(command, work / "serial.log", work / "monitor.sock") as vm:
        vm.wait_for("warmboot-test: panicking", 120)
        vm.wait_for("Kernel panic", 30)
        deadline = time.monotonic() + reset_timeout
        status = vm.monitor("info status")
        while "paused" not in status and time.monotonic() < deadline:
            time.sleep(0.2)
            status = vm.monitor("info status")
        rips = []
        for cpu in range(2):
            vm.monitor(f"cpu {cpu}")
            rips.append(int(re.search(r"RIP=([0-9a-f]+)", vm.monitor("info registers"))[1], 16))
        output = vm.output
        stub_match = re.search(r"pmtctl: armed .*, crash stub at (0x[0-9a-f]+)", output)
        stub = int(stub_match[1], 16) if stub_match else None
        stub_bytes = b""
        if stub is not None:
            dump = vm.monitor(f"xp /10xb {stub:#x}")
            stub_bytes = bytes(int(b, 16) for b in re.findall(r"0x([0-9a-f]{2})\b", dump))
        ram = None
        if ram_bytes and "paused" in status:
            ram = work / "guest.ram"
            vm.monitor(f'pmemsave 0 {ram_bytes:#x} "{ram}"', timeout=120)
    pages = {
        int(m[1]) * 4096: base64.b64decode("".join(m[2].split()))
        for m in re.finditer(r"PAGE (\d+)\r?\n(.*?)PAGE-END", output, re.S)
    }
    return GuestRun(output, status, tuple(rips), stub_bytes, stub, pages, ram)
