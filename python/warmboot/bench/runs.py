"""One benchmark boot: power on, reach the OS, read its memory, optionally
crash it and time the way back to the OS from the serial console.

A crash run's milestones are the console lines each mechanism prints on its
way from the panic to `warmboot: os ready`; the time between two milestones
is the phase named by the later one.
"""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

from warmboot.boards import Board
from warmboot.qemu import MarkerTimeout, QemuMachine

from . import TOP
from .console import ConsoleClock
from .errors import GuestRunError
from .images import BenchImages

# warmboot in service: the OS saves its own dump after it is back;
# warmboot in LinuxBoot: LinuxBoot's dumpcap writes it first (CAPTURE=payload).
MECHANISMS = ("warmboot-in-service", "warmboot-linuxboot", "kdump-cp", "kdump-makedumpfile")
WARMBOOTS = ("warmboot-in-service", "warmboot-linuxboot")
# What runs in the guest before the crash: nothing, or warmboot-load
# (linuxboot/testos/rootfs/sbin/warmboot-load) filling about 70% of RAM.
LOADS = ("idle", "loaded")

PANIC = r"Kernel panic"
OS_READY = r"warmboot: os ready"
# What the OS prints once its crash mechanism is set up.
ARMED = {
    "warmboot-in-service": "warmboot: os armed (kernel)",
    "warmboot-linuxboot": "warmboot: os armed (kernel)",
    "kdump-cp": "warmboot: kdump loaded",
    "kdump-makedumpfile": "warmboot: kdump loaded",
}

BOOT_TIMEOUT = 300  # power-on to the OS, TCG, a busy host
CRASH_TIMEOUT = 900  # panic to the OS again, 8 GiB copied by kdump's cp under TCG
LOAD_TIMEOUT = 600  # warmboot-load at 8 GiB takes about 20 s under TCG
LOAD_DEVICE = "/dev/vdb"  # the load disk, attached after the OS disk
LOADED_LINE = r"warmboot-load: loaded: ([^\r\n]*)"
LOAD_SHORT = r"warmboot-load: \S+ holds only"


@dataclass(frozen=True)
class MilestoneSpec:
    name: str  # the phase that ends here
    category: str  # what the phase is, for the charts
    pattern: str


# Categories, in the order a chart stacks them.
CATEGORIES = (
    "crash path",
    "firmware",
    "capture-side kernel",
    "capture setup",
    "vmcore write",
    "back to the OS",
    "saved in service",
)

IN_SERVICE_MILESTONES = (
    MilestoneSpec(
        "panic to coreboot (crash notes, warm reset)", "crash path", r"bootblock starting"
    ),
    MilestoneSpec(
        "bootblock + romstage (boot window copy)",
        "firmware",
        r"warmboot: PMT generation \d+ accepted: copied",
    ),
    MilestoneSpec("ramstage, LinuxBoot load", "firmware", r"Linux version"),
    MilestoneSpec(
        "LinuxBoot kernel to its init", "capture-side kernel", r"warmboot: linuxboot ready"
    ),
    MilestoneSpec(
        "mount the OS disk, write the ELF core header",
        "capture setup",
        r"warmboot: the OS saves its own dump",
    ),
    MilestoneSpec("wbkexec load", "back to the OS", r"warmboot: booting the OS"),
    MilestoneSpec("kexec to the OS kernel", "back to the OS", r"Linux version"),
    MilestoneSpec("OS kernel to OS in service", "back to the OS", OS_READY),
    MilestoneSpec(
        "makedumpfile -d 31 in service, sync", "saved in service", r"warmboot: dump saved in"
    ),
)

WARMBOOT_MILESTONES = (
    MilestoneSpec(
        "panic to coreboot (crash notes, warm reset)", "crash path", r"bootblock starting"
    ),
    MilestoneSpec(
        "bootblock + romstage (boot window copy)",
        "firmware",
        r"warmboot: PMT generation \d+ accepted: copied",
    ),
    MilestoneSpec("ramstage, LinuxBoot load", "firmware", r"Linux version"),
    MilestoneSpec(
        "LinuxBoot kernel to its init", "capture-side kernel", r"warmboot: linuxboot ready"
    ),
    MilestoneSpec("mount the OS disk", "capture setup", r"dumpcap: writing"),
    MilestoneSpec("dumpcap writes the vmcore", "vmcore write", r"warmboot: vmcore written"),
    MilestoneSpec("disarm, sync, wbkexec load", "back to the OS", r"warmboot: booting the OS"),
    MilestoneSpec("kexec to the OS kernel", "back to the OS", r"Linux version"),
    MilestoneSpec("OS kernel to OS ready", "back to the OS", OS_READY),
)

KDUMP_MILESTONES = (
    MilestoneSpec(
        "panic to the capture kernel (crash path, purgatory)", "crash path", r"Linux version"
    ),
    MilestoneSpec(
        "capture kernel to its init", "capture-side kernel", r"kdump: capture kernel ready"
    ),
    MilestoneSpec("mount the OS disk", "capture setup", r"kdump: copying"),
    MilestoneSpec("copy /proc/vmcore, sync", "vmcore write", r"kdump: vmcore saved"),
    MilestoneSpec("reboot to coreboot", "firmware", r"bootblock starting"),
    MilestoneSpec("coreboot to LinuxBoot", "firmware", r"Linux version"),
    MilestoneSpec("LinuxBoot kernel to its init", "back to the OS", r"warmboot: linuxboot ready"),
    MilestoneSpec(
        "LinuxBoot: nothing to capture, wbkexec load", "back to the OS", r"warmboot: booting the OS"
    ),
    MilestoneSpec("kexec to the OS kernel", "back to the OS", r"Linux version"),
    MilestoneSpec("OS kernel to OS ready", "back to the OS", OS_READY),
)

# The milestones that end the downtime: the OS is ready (in service).
OS_READY_MILESTONES = ("OS kernel to OS in service", "OS kernel to OS ready")
MILESTONES = {
    "warmboot-in-service": IN_SERVICE_MILESTONES,
    "warmboot-linuxboot": WARMBOOT_MILESTONES,
    "kdump-cp": KDUMP_MILESTONES,
    "kdump-makedumpfile": KDUMP_MILESTONES,
}
# The milestone that ends the dump's save, per mechanism.
SAVED_MILESTONE = {
    "warmboot-in-service": "makedumpfile -d 31 in service, sync",
    "warmboot-linuxboot": "dumpcap writes the vmcore",
    "kdump-cp": "copy /proc/vmcore, sync",
    "kdump-makedumpfile": "copy /proc/vmcore, sync",
}

# Where the vmcore went, and how much crashed memory the capture read.
WARMBOOT_SAVED = r"warmboot: vmcore written /mnt(\S+) (\d+) bytes"
IN_SERVICE_READING = r"warmboot: saving the dump of (\d+) bytes"
IN_SERVICE_SAVED = r"warmboot: dump saved in (\S+) \((\d+) bytes\)"
KDUMP_READING = r"kdump: copying /proc/vmcore \((\d+) bytes\)"
KDUMP_SAVED = r"kdump: vmcore saved in (\S+) \((\d+) bytes, status (\d+)\)"

MEMINFO_COMMAND = (
    "echo \"wbbench: meminfo $(grep -E '^(MemTotal|CmaTotal):' /proc/meminfo "
    "| tr -s ' ' | tr '\\n' ' ')crash $(cat /sys/kernel/kexec_crash_size) "
    'loaded $(cat /sys/kernel/kexec_crash_loaded)"'
)
MEMINFO_LINE = (
    r"wbbench: meminfo MemTotal: (\d+) kB CmaTotal: (\d+) kB "
    r"crash (\d+) loaded (\d)"
)

ELF_MAGIC = b"\x7fELF"
KDUMP_MAGIC = b"KDUMP   "  # makedumpfile's kdump-compressed format (diskdump.h)
FS_BLOCK = 4096  # images.make_disk's mke2fs -b


@dataclass(frozen=True)
class MemoryInUse:
    """What the running OS has, in normal operation."""

    mem_total_kib: int  # /proc/meminfo MemTotal: RAM the OS can use (CMA included)
    cma_total_kib: int  # /proc/meminfo CmaTotal
    crash_kernel_bytes: int  # /sys/kernel/kexec_crash_size: crashkernel= reserved
    crash_kernel_loaded: bool  # a crash image (stub or capture kernel) is loaded


@dataclass(frozen=True)
class Workload:
    """/proc/meminfo once warmboot-load is done, just before the crash."""

    mem_total_kib: int
    mem_free_kib: int
    anon_kib: int  # AnonPages
    cached_kib: int  # Cached: page cache
    slab_kib: int
    dirty_kib: int
    seconds: float  # how long the load took (host-side)

    @property
    def used_share(self) -> float:
        return 1 - self.mem_free_kib / self.mem_total_kib


def parse_workload(line: bytes | str, seconds: float) -> Workload:
    text = line.decode() if isinstance(line, bytes) else line
    fields = {k: int(v) for k, v in re.findall(r"(\w+): (\d+) kB", text)}
    try:
        return Workload(
            fields["MemTotal"],
            fields["MemFree"],
            fields["AnonPages"],
            fields["Cached"],
            fields["Slab"],
            fields["Dirty"],
            seconds,
        )
    except KeyError as exc:
        raise GuestRunError(f"warmboot-load printed no {exc.args[0]}: {text!r}") from None


@dataclass(frozen=True)
class Milestone:
    name: str
    category: str
    seconds: float  # after the panic


@dataclass(frozen=True)
class Vmcore:
    """The dump a crash left on the OS disk."""

    path: str  # on the OS disk
    bytes: int  # its size (st_size)
    format: str  # "elf" or "kdump-compressed"
    memory_bytes: int  # crashed memory the capture read (ELF vmcore, /proc/vmcore)
    capture_seconds: float  # capture start to saved, host-side, sync included
    filtered_bytes: int | None  # `makedumpfile -d 31 -l` of it on the host (ELF dumps only)
    # Blocks it takes on the disk: less than bytes where zero pages are holes
    # (None in records made before this was measured).
    disk_bytes: int | None = None

    @property
    def throughput_mb_s(self) -> float:
        return self.memory_bytes / self.capture_seconds / 1e6


@dataclass(frozen=True)
class CrashRun:
    mechanism: str
    ram: str  # QEMU -m
    run: int
    memory: MemoryInUse
    boot_seconds: float  # power-on to OS ready, first boot
    downtime_seconds: float  # panic to OS ready (in service), host-side
    milestones: tuple[Milestone, ...]
    vmcore: Vmcore
    serial_log: str  # relative to the checkout when the logs are inside it
    saved_seconds: float = 0.0  # panic to the dump saved (before or after OS ready)
    load: str = "idle"  # one of LOADS
    workload: Workload | None = None  # meminfo before the crash, when loaded


@dataclass(frozen=True)
class PlainBoot:
    """The OS with no crash mechanism: the memory baseline."""

    ram: str
    run: int
    memory: MemoryInUse
    boot_seconds: float
    serial_log: str  # relative to the checkout when the logs are inside it


def recorded_path(path: Path) -> str:
    """path as results.json records it: relative to the checkout when inside it."""
    try:
        return str(path.resolve().relative_to(TOP))
    except ValueError:
        return str(path)


def wait_for_shell(vm: QemuMachine, tries: int = 10) -> None:
    """Until the OS's shell reads what is typed: input that arrives while it
    starts, or sets up its line editing, is lost."""
    for attempt in range(tries):
        vm.send(f"echo wbbench-shell-$(({attempt} + 100))\n")
        try:
            vm.wait_for_line(f"wbbench-shell-{attempt + 100}", 5)
            return
        except MarkerTimeout:
            continue
    raise GuestRunError(f"the OS's shell does not answer (serial log {vm.log_path})")


def read_memory_in_use(vm: QemuMachine) -> MemoryInUse:
    wait_for_shell(vm)
    vm.send(MEMINFO_COMMAND + "\n")
    m = vm.wait_for_line(MEMINFO_LINE, 60)
    return MemoryInUse(int(m.group(1)), int(m.group(2)), int(m.group(3)), m.group(4) == "1")


def milestones_after(
    clock: ConsoleClock,
    panic_end: int,
    panic_seconds: float,
    specs: tuple[MilestoneSpec, ...],
    what: str,
) -> tuple[Milestone, ...]:
    """Each milestone's time after the panic, found in order on the console."""
    found, cursor = [], panic_end
    for spec in specs:
        mark = clock.require(spec.pattern, cursor, f"{what}: milestone {spec.name!r}")
        found.append(Milestone(spec.name, spec.category, mark.seconds - panic_seconds))
        cursor = mark.end
    return tuple(found)


# -- the OS disk, read on the host without mounting --------------------------


def _debugfs(disk: Path, request: str) -> str:
    out = subprocess.run(["debugfs", "-R", request, str(disk)], capture_output=True, text=True)
    if out.returncode != 0:
        raise GuestRunError(f"debugfs -R {request!r} {disk} failed: {out.stderr.strip()}")
    return out.stdout


def file_size(disk: Path, path: str) -> tuple[int, int]:
    """(st_size, bytes allocated) of path on the disk."""
    stat = _debugfs(disk, f"stat {path}")
    size, blocks = re.search(r"Size: (\d+)", stat), re.search(r"Blockcount: (\d+)", stat)
    if not size or not blocks:
        raise GuestRunError(f"{path} is not on the OS disk {disk}")
    return int(size.group(1)), int(blocks.group(1)) * 512


def file_head(disk: Path, path: str, size: int = 8) -> bytes:
    """The first bytes of path, read from the image at its first block."""
    block = int(_debugfs(disk, f"bmap {path} 0").strip() or 0)
    if block == 0:
        return b""
    with open(disk, "rb") as image:
        image.seek(block * FS_BLOCK)
        return image.read(size)


def extract(disk: Path, path: str, dest: Path) -> Path:
    _debugfs(disk, f"dump {path} {dest}")
    if not dest.exists():
        raise GuestRunError(f"could not copy {path} out of {disk}")
    return dest


def filtered_size(disk: Path, path: str, work: Path) -> int:
    """Size of `makedumpfile -d 31 -l` of an ELF vmcore on the disk (filtering
    zero, cache, user and free pages; lzo), made on the host."""
    elf = extract(disk, path, work / "vmcore.elf")
    out = work / "vmcore.d31"
    try:
        done = subprocess.run(
            ["makedumpfile", "-d", "31", "-l", "--message-level", "4", str(elf), str(out)],
            capture_output=True,
            text=True,
        )
        if done.returncode != 0 or not out.exists():
            raise GuestRunError(
                f"makedumpfile -d 31 -l {path} failed: "
                f"{(done.stderr or done.stdout).strip()[-500:]}"
            )
        return out.stat().st_size
    finally:
        elf.unlink(missing_ok=True)
        out.unlink(missing_ok=True)


def dump_format(head: bytes) -> str:
    if head.startswith(ELF_MAGIC):
        return "elf"
    if head.startswith(KDUMP_MAGIC):
        return "kdump-compressed"
    raise GuestRunError(f"the vmcore starts with {head!r}: neither ELF nor kdump-compressed")


# -- runs ----------------------------------------------------------------------


def _machine(
    board: Board, images: BenchImages, disk: Path, ram: str, log: Path, loaded: bool = False
) -> QemuMachine:
    disks = tuple(board.disk_args(disk))
    if loaded:
        if images.load_disk is None:
            raise GuestRunError("a loaded run needs the load disk (prepare_images(loaded=True))")
        disks += tuple(board.disk_args(images.load_disk))
    return QemuMachine.for_board(board, images.rom, log, disks, memory=ram)


def load_guest(vm: QemuMachine, what: str) -> Workload:
    """Run warmboot-load in the OS and wait until it is done."""
    wait_for_shell(vm)
    start = vm.elapsed()
    vm.send(f"warmboot-load {LOAD_DEVICE}\n")
    try:
        m = vm.wait_for_line(LOADED_LINE, LOAD_TIMEOUT)
    except MarkerTimeout:
        raise GuestRunError(
            f"{what}: warmboot-load did not finish (serial log {vm.log_path})"
        ) from None
    if re.search(LOAD_SHORT, vm.output):
        raise GuestRunError(f"{what}: the load disk is too small (serial log {vm.log_path})")
    return parse_workload(m.group(1), vm.elapsed() - start)


def _fresh_disk(images: BenchImages, setup: str, work: Path, name: str) -> Path:
    disk = work / f"{name}.img"
    subprocess.run(["cp", "--sparse=always", str(images.disks[setup]), str(disk)], check=True)
    return disk


def plain_boot(
    board: Board, images: BenchImages, ram: str, run: int, work: Path, logs: Path
) -> PlainBoot:
    name = f"plain-{ram}-run{run}"
    disk = _fresh_disk(images, "plain", work, name)
    log = logs / f"{name}.log"
    try:
        with _machine(board, images, disk, ram, log) as vm:
            vm.wait_for(OS_READY, BOOT_TIMEOUT)
            booted = vm.elapsed()
            memory = read_memory_in_use(vm)
    finally:
        disk.unlink(missing_ok=True)
    return PlainBoot(ram, run, memory, booted, recorded_path(log))


def crash_run(
    board: Board,
    images: BenchImages,
    mechanism: str,
    ram: str,
    run: int,
    work: Path,
    logs: Path,
    filter_on_host: bool,
    load: str = "idle",
) -> CrashRun:
    """Boot the OS set up for mechanism, load it (unless idle), crash it with
    sysrq-c, wait for it to be ready again; then read what the capture left
    on the disk."""
    if load not in LOADS:
        raise GuestRunError(f"unknown load {load!r}; known: {', '.join(LOADS)}")
    name = f"{mechanism}-{ram}-{load}-run{run}"
    what = f"{mechanism} at {ram} {load}, run {run}"
    disk = _fresh_disk(images, mechanism, work, name)
    log = logs / f"{name}.log"
    workload = None
    try:
        with _machine(board, images, disk, ram, log, loaded=load == "loaded") as vm:
            vm.wait_for(OS_READY, BOOT_TIMEOUT)
            booted = vm.elapsed()
            if ARMED[mechanism] not in vm.output:
                raise GuestRunError(
                    f"{what}: the OS did not set up its crash mechanism "
                    f"({ARMED[mechanism]!r} missing; serial log {log})"
                )
            memory = read_memory_in_use(vm)
            if mechanism.startswith("kdump-") and not memory.crash_kernel_loaded:
                raise GuestRunError(f"{what}: no crash image loaded (serial log {log})")
            if load == "loaded":
                workload = load_guest(vm, what)
            clock = ConsoleClock(vm)
            before_panic = clock.size
            vm.send("echo c > /proc/sysrq-trigger\n")
            vm.wait_for(PANIC, 60)
            vm.wait_for(OS_READY, CRASH_TIMEOUT)
            if mechanism == "warmboot-in-service":
                vm.wait_for_line(IN_SERVICE_SAVED, CRASH_TIMEOUT)
        panic = clock.require(PANIC, before_panic, what)
        milestones = milestones_after(clock, panic.end, panic.seconds, MILESTONES[mechanism], what)
        vmcore = _vmcore(clock, panic.end, mechanism, milestones, disk, work, filter_on_host, what)
    finally:
        disk.unlink(missing_ok=True)
    (ready,) = [m for m in milestones if m.name in OS_READY_MILESTONES]
    (saved,) = [m for m in milestones if m.name == SAVED_MILESTONE[mechanism]]
    return CrashRun(
        mechanism,
        ram,
        run,
        memory,
        booted,
        ready.seconds,
        milestones,
        vmcore,
        recorded_path(log),
        saved_seconds=saved.seconds,
        load=load,
        workload=workload,
    )


def _vmcore(
    clock: ConsoleClock,
    after: int,
    mechanism: str,
    milestones: tuple[Milestone, ...],
    disk: Path,
    work: Path,
    filter_on_host: bool,
    what: str,
) -> Vmcore:
    if mechanism == "warmboot-in-service":
        saved = clock.require(IN_SERVICE_SAVED, after, what)
        memory_bytes = int(clock.require(IN_SERVICE_READING, after, what).match.group(1))
    elif mechanism == "warmboot-linuxboot":
        saved = clock.require(WARMBOOT_SAVED, after, what)
        memory_bytes = int(saved.match.group(2))
    else:
        saved = clock.require(KDUMP_SAVED, after, what)
        if saved.match.group(3) != b"0":
            raise GuestRunError(
                f"{what}: the capture kernel's copy failed (status {saved.match.group(3).decode()})"
            )
        memory_bytes = int(clock.require(KDUMP_READING, after, what).match.group(1))
    path, reported = saved.match.group(1).decode(), int(saved.match.group(2))
    size, allocated = file_size(disk, path)
    if size != reported:
        raise GuestRunError(
            f"{what}: {path} has {size} bytes on the disk, the guest reported {reported}"
        )
    fmt = dump_format(file_head(disk, path))
    filtered = filtered_size(disk, path, work) if filter_on_host and fmt == "elf" else None
    (write_seconds,) = [
        seconds
        for category, seconds in phase_durations(milestones)
        if category in ("vmcore write", "saved in service")
    ]
    return Vmcore(
        path=path,
        bytes=size,
        format=fmt,
        memory_bytes=memory_bytes,
        capture_seconds=write_seconds,
        filtered_bytes=filtered,
        disk_bytes=allocated,
    )


def phase_durations(milestones: tuple[Milestone, ...]) -> list[tuple[str, float]]:
    """(category, seconds) of each phase: from the previous milestone (or the panic)."""
    previous, phases = 0.0, []
    for m in milestones:
        phases.append((m.category, m.seconds - previous))
        previous = m.seconds
    return phases
