"""The crash-dump end-to-end harness (imported as crashlab): a board's firmware + LinuxBoot + the
test OS on a virtio disk, driven over the serial console and the QEMU monitor. qemu-q35 by
default; qemu-virt (aarch64) for the device-tree boards' tests."""

from __future__ import annotations

import re
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from elftools.elf.elffile import ELFFile

from warmboot.boards import load_board
from warmboot.qemu import MarkerTimeout, QemuMachine
from wbtest import TOP, build_board

GUEST_RAM = "512M"
GUEST_RAM_BYTES = 512 << 20
BANNER = "bootblock starting"


@dataclass(frozen=True)
class CrashImages:
    rom: Path
    disk: Path
    vmlinux: Path
    build: Path


def build_crash_images(board: str = "qemu-q35") -> CrashImages:
    """`scons board=BOARD .`: the ROM, the test OS disk and its vmlinux."""
    build = build_board(board, ".").build
    return CrashImages(
        build / "coreboot.rom", build / "testos" / "os.img", build / "testos" / "vmlinux", build
    )


class Lab:
    """One test's machine: its own copy of the OS disk, its own serial log.
    memory is the guest's RAM (QEMU's -m syntax)."""

    def __init__(
        self,
        images: CrashImages,
        workdir: Path,
        name: str,
        board: str = "qemu-q35",
        memory: str = GUEST_RAM,
    ):
        self.images = images
        self.board = load_board(TOP, board)
        self.memory = memory
        self.workdir = workdir
        self.disk = workdir / "os.img"
        subprocess.run(["cp", "--sparse=always", str(images.disk), str(self.disk)], check=True)
        self.logs = images.build / "logs"
        self.name = name
        self.ram_file: Path | None = None
        self.boots = 0

    def start(self, retain_ram: bool = False, qemu_args: tuple[str, ...] = ()) -> QemuMachine:
        """Power on. With retain_ram, guest RAM is a file that outlives QEMU,
        like DRAM that kept its contents through a short power loss.
        qemu_args are added to QEMU's command line."""
        extra = list(self.board.disk_args(self.disk)) + list(qemu_args)
        if retain_ram:
            self.ram_file = self.ram_file or self.workdir / "ram"
            extra += [
                "-object",
                f"memory-backend-file,id=ram,size={self.memory},mem-path={self.ram_file},share=on",
                "-machine",
                "memory-backend=ram",
            ]
        self.boots += 1
        log = self.logs / f"{self.name}-boot{self.boots}.log"
        return QemuMachine.for_board(
            self.board, self.images.rom, log, tuple(extra), monitor=True, memory=self.memory
        ).start()

    def shell(self, vm: QemuMachine, command: str, pattern: str, timeout: float = 60):
        """Run command in the guest shell; wait for a complete line matching pattern."""
        vm.send(command + "\n")
        return vm.wait_for_line(pattern, timeout)

    # -- the OS disk, read on the host without mounting ------------------
    def crash_dirs(self) -> list[str]:
        out = subprocess.run(
            ["debugfs", "-R", "ls -p /crash", str(self.disk)],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        names = [line.split("/")[5] for line in out.splitlines() if line.startswith("/")]
        return sorted(n for n in names if n not in (".", ".."))

    def crash_files(self, directory: str) -> list[str]:
        out = subprocess.run(
            ["debugfs", "-R", f"ls -p /crash/{directory}", str(self.disk)],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        names = [line.split("/")[5] for line in out.splitlines() if line.startswith("/")]
        return sorted(n for n in names if n not in (".", ".."))

    def extract(self, path: str, dest: Path) -> Path:
        subprocess.run(
            ["debugfs", "-R", f"dump {path} {dest}", str(self.disk)],
            capture_output=True,
            check=True,
        )
        if not dest.exists():
            raise AssertionError(f"{path} is not on the OS disk")
        return dest

    def put(self, host_file: Path, path: str) -> None:
        """Copy a host file onto the OS disk (QEMU must not be running)."""
        subprocess.run(["debugfs", "-w", "-R", f"rm {path}", str(self.disk)], capture_output=True)
        subprocess.run(
            ["debugfs", "-w", "-R", f"write {host_file} {path}", str(self.disk)],
            capture_output=True,
            check=True,
        )

    def put_text(self, text: str, path: str) -> None:
        """Write text as a file on the OS disk (QEMU must not be running)."""
        staged = self.workdir / Path(path).name
        staged.write_text(text)
        self.put(staged, path)

    def read_text(self, path: str) -> str:
        return self.extract(path, self.workdir / f"read-{Path(path).name}").read_text()

    def os_cmdline(self) -> str:
        """The OS's command line on its disk (boot/cmdline), as LinuxBoot reads it."""
        return self.read_text("/boot/cmdline").strip()

    def configure(self, **settings: str) -> None:
        """boot/warmboot.conf: LinuxBoot's crash-dump settings (docs/crashdump.md)."""
        self.put_text(
            "".join(f'{key}="{value}"\n' for key, value in settings.items()), "/boot/warmboot.conf"
        )


def boot_to_os(lab: Lab, vm: QemuMachine, timeout: float = 240) -> float:
    """Wait for LinuxBoot, then the OS it kexecs; returns seconds since power-on."""
    vm.wait_for("warmboot: linuxboot ready", timeout)
    vm.wait_for("warmboot: booting the OS", timeout)
    vm.wait_for("warmboot: os armed", timeout)
    return wait_os_ready(vm, 60)


def wait_os_ready(vm: QemuMachine, timeout: float = 300) -> float:
    """Wait for the OS's `os ready` and then for its shell to read what is
    typed (input that arrives while the shell sets up its line editing, or
    before it runs, is lost); returns seconds since power-on of `os ready`."""
    vm.wait_for("warmboot: os ready", timeout)
    ready = vm.elapsed()
    vm.wait_for("/ # ", 60)
    for attempt in range(10):
        vm.send(f"echo SHELL-$(({attempt} + 100))\n")
        try:
            vm.wait_for_line(f"SHELL-{attempt + 100}", 5)
            return ready
        except MarkerTimeout:
            continue
    raise AssertionError(f"the OS's shell does not answer; serial log {vm.log_path}")


SAVED = r"warmboot: dump saved in /crash/(\S+)/(dump\.\S+) \((\d+) bytes\)"


def wait_in_service_and_saved(
    vm: QemuMachine, timeout: float = 600
) -> tuple[float, float, re.Match]:
    """After a panic: seconds since power-on when the OS came into service and
    when its dump was saved, and the saved line."""
    vm.wait_for("warmboot: the OS saves its own dump", timeout)
    vm.wait_for("warmboot: in service", timeout)
    in_service = vm.elapsed()
    saved = vm.wait_for_line(SAVED, timeout)
    saved_at = vm.elapsed()
    vm.wait_for("warmboot: dump memory released", 120)
    return in_service, saved_at, saved


def meminfo(lab: Lab, vm: QemuMachine, key: str = "MemTotal") -> int:
    """A /proc/meminfo value of the running OS, in kB."""
    return int(lab.shell(vm, f"grep {key}: /proc/meminfo", rf"{key}:\s+(\d+) kB").group(1))


def sysfs(lab: Lab, vm: QemuMachine, name: str) -> str:
    """/sys/kernel/warmboot/<name> of the running OS (docs/crashdump.md's ABI)."""
    # Quoted apart, so the typed command never matches the answer's pattern.
    return (
        lab.shell(vm, f'echo "WB-""{name}=$(cat /sys/kernel/warmboot/{name})"', rf"WB-{name}=(.*)")
        .group(1)
        .strip()
    )


HEARTBEAT = 10  # iTCO_wdt.heartbeat on the test OS's command line


def symbol_range(vmlinux, name: str) -> tuple[int, int]:
    with open(vmlinux, "rb") as f:
        sym = ELFFile(f).get_section_by_name(".symtab").get_symbol_by_name(name)[0]
    return sym["st_value"], sym["st_value"] + sym["st_size"]


def function_at(vmlinux, addr: int) -> str:
    """The name of vmlinux's function that contains addr ("" if none does)."""
    with open(vmlinux, "rb") as f:
        for sym in ELFFile(f).get_section_by_name(".symtab").iter_symbols():
            start = sym["st_value"]
            if sym["st_info"]["type"] == "STT_FUNC" and start <= addr < start + sym["st_size"]:
                return sym.name
    return ""


def hang_cpu1_under_the_watchdog(vm) -> float:
    """Open /dev/watchdog and never pet it, then hard-lock CPU 1 with
    interrupts off (LKDTM). Returns when the hang starts."""
    vm.send('exec 3>/dev/watchdog; echo WATCHDOG-""OPEN\n')  # quoted: not its own echo
    vm.wait_for_line("WATCHDOG-OPEN", 30)
    vm.send("taskset 2 sh -c 'echo HARDLOCKUP > /sys/kernel/debug/provoke-crash/DIRECT'\n")
    vm.wait_for("lkdtm: Performing direct entry HARDLOCKUP", 30)
    return vm.elapsed()


def count(text: str, needle: str) -> int:
    return len(re.findall(re.escape(needle), text))


PAGE = 4096


def page_differences(vmcore_path, snapshot: bytes, base: int = 0) -> dict:
    """Per preserved region: how many pages differ between the vmcore and the
    host's snapshot of guest RAM taken just before the panic (snapshot[0] is
    physical address base: 0 on x86, DRAM's start on arm64)."""
    from warmboot.vmcore.reader import read_vmcore

    info = read_vmcore(vmcore_path)
    diffs = {}
    with open(vmcore_path, "rb") as core:
        for region in info.regions:
            core.seek(region.offset)
            start = region.paddr - base
            pages = 0
            for off in range(0, region.size, PAGE):
                if core.read(PAGE) != snapshot[start + off : start + off + PAGE]:
                    pages += 1
            diffs[(region.paddr, region.size)] = pages
    return diffs


def pattern_addresses(
    vmcore_path, info, token: bytes, floor: int = 0, chunk: int = 64 << 20
) -> list[int]:
    """Physical addresses of every copy of token at or above floor in the
    vmcore's PT_LOADs, read in chunks (regions of several GiB)."""
    found = []
    with open(vmcore_path, "rb") as core:
        for region in info.regions:
            end = region.paddr + region.size
            at = max(region.paddr, floor)
            while at < end:
                # Overlap by len(token) - 1 so a copy across chunks is found once.
                core.seek(region.offset + at - region.paddr)
                data = core.read(min(chunk + len(token) - 1, end - at))
                found += [at + m.start() for m in re.finditer(re.escape(token), data)]
                at += chunk
    return found


def read_paddr(vmcore_path, info, paddr: int, size: int) -> bytes:
    """size bytes at physical address paddr, from the vmcore's PT_LOADs."""
    region = next(r for r in info.regions if r.paddr <= paddr and paddr + size <= r.paddr + r.size)
    with open(vmcore_path, "rb") as core:
        core.seek(region.offset + paddr - region.paddr)
        return core.read(size)


def run_crash(
    lab: Lab, vmcore: Path, tmp_path: Path, commands: str, crash: Sequence[str] = ("crash",)
) -> str:
    """crash -s vmlinux vmcore with these commands (newline-separated); its
    output is appended to the test's crash log in the board's logs. crash is
    the command to run: Debian's x86_64 crash, or the crash_arm64 fixture's."""
    script = tmp_path / "crash.cmds"
    script.write_text(commands.rstrip("\n") + "\nquit\n")
    result = subprocess.run(
        [*crash, "-s", "-i", str(script), str(lab.images.vmlinux), str(vmcore)],
        capture_output=True,
        text=True,
        timeout=600,
        stdin=subprocess.DEVNULL,
    )
    lab.crash_log = lab.logs / f"{lab.name}-crash.txt"
    with open(lab.crash_log, "a") as log:
        log.write(f"$ {' '.join(crash)} {commands!r}\n{result.stdout}{result.stderr}\n")
    assert result.returncode == 0, f"crash failed; see {lab.crash_log}"
    return result.stdout


def gdb_aarch64_backtraces(lab: Lab, vmcore: Path) -> str:
    """gdb-multiarch's `thread apply all bt` of an aarch64 vmcore with the
    test OS's vmlinux (a second opinion beside crash for arm64); the output
    is kept in the board's logs."""
    gdb = subprocess.run(
        [
            "gdb-multiarch",
            "-batch",
            "-ex",
            "set architecture aarch64",
            "-ex",
            "thread apply all bt 12",
            str(lab.images.vmlinux),
            str(vmcore),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    (lab.logs / f"{lab.name}-gdb.txt").write_text(gdb.stdout + gdb.stderr)
    return gdb.stdout
