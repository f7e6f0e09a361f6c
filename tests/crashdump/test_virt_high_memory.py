"""Memory above 4 GiB on qemu-virt (issue 14): RAM starts at 1 GiB, so a 6 GiB
guest has 3 GiB of it above 4 GiB. coreboot finds all of it (coreboot patch
0005 maps the whole DRAM window for its probe) and puts CBMEM, with the anchor
and the reset mailbox, at its top; the OS's PRESERVE regions up there are
accepted and kept across the warm reset, and LinuxBoot's capture writes them
to the dump: the pattern the OS held in a file's page cache above 4 GiB is
in it, read by the inspector and by crash for arm64. The in-service flow
saves the same guest's dump with makedumpfile and gives the memory back."""

from __future__ import annotations

import re
import secrets
import shutil

import pytest

from crashlab import (
    BANNER,
    SAVED,
    Lab,
    boot_to_os,
    count,
    meminfo,
    pattern_addresses,
    read_paddr,
    run_crash,
    wait_os_ready,
)
from warmboot.vmcore.reader import read_vmcore

pytestmark = pytest.mark.qemu

GiB = 1 << 30
MiB = 1 << 20
BOOT_TIMEOUT = 600  # TCG: firmware, LinuxBoot and the OS, emulated
PATTERN_BYTES = 4 * MiB
LOW_FILL_MIB = 3072  # RAM from 1 to 4 GiB


@pytest.fixture
def virt_big_lab(virt_crash_images, tmp_path, request):
    yield Lab(virt_crash_images, tmp_path, request.node.name, board="qemu-virt", memory="6G")
    shutil.rmtree(tmp_path, ignore_errors=True)  # the disk and a 6 GiB (sparse) dump


def test_kernel_data_above_4_gib_on_virt_is_kept_and_in_the_dump(
    virt_big_lab, tmp_path, crash_arm64_command
):
    lab = virt_big_lab
    lab.configure(CAPTURE="payload")
    token = f"WBHIGH{secrets.token_hex(13)}".encode()  # 32 bytes
    vm = lab.start()
    with vm:
        boot_to_os(lab, vm, BOOT_TIMEOUT)
        ram = lab.shell(vm, "grep 'System RAM' /proc/iomem | tail -1", r"-([0-9a-f]+) : System RAM")
        anchor = re.findall(r"warmboot: armed generation \d+ .*anchor (0x[0-9a-f]+)", vm.output)
        # This kernel has one zone, and the page allocator hands out movable
        # pages lowest first (unmovable ones, like pipe buffers, stay in the
        # pageblocks the kernel's early allocations made unmovable, low or at
        # the top): 3 GiB of zeros in a tmpfs take up the RAM below 4 GiB
        # (zero pages, which the capture leaves out), and the file written
        # next, in the OS's page cache, lands above 4 GiB.
        lab.shell(
            vm,
            f"mkdir /low && mount -t tmpfs -o size={LOW_FILL_MIB + 64}m low /low && "
            f'dd if=/dev/zero of=/low/fill bs=1M count={LOW_FILL_MIB} && echo FILL""ED',
            r"(FILLED)",
            timeout=300,
        )
        lab.shell(
            vm,
            f'yes {token.decode()} | head -c {PATTERN_BYTES} > /high; echo PATTER""NED',
            r"(PATTERNED)",
        )
        vm.send("echo c > /proc/sysrq-trigger\n")
        vm.wait_for("Kernel panic", 60)
        panicked = vm.elapsed()
        mark = len(vm.output)
        vm.wait_for("warmboot: crash dump saved in /crash/", 1200)
        vm.wait_for("warmboot: booting the OS", 120)
        wait_os_ready(vm)
        ready = vm.elapsed()
        rest = vm.output[mark:]
    print(f"virt 6 GiB: panic -> OS ready {ready - panicked:.1f} s")
    assert int(ram.group(1), 16) >= 7 * GiB - 32 * MiB, "the OS did not get RAM up to 7 GiB"
    # CBMEM (the anchor in it) sits at the top of RAM, above 4 GiB.
    assert anchor and int(anchor[-1], 16) > 4 * GiB, anchor
    assert count(rest, BANNER) == 1
    accepted = re.search(r"warmboot: PMT generation \d+ accepted.*\((\d+) MiB\)", rest)
    assert accepted, "firmware did not accept the table"
    assert int(accepted.group(1)) > 5 * 1024, accepted.group(0)  # most of 6 GiB kept
    assert re.search(r"warmboot: gave back \d+ MiB the firmware kept", rest)

    (directory,) = lab.crash_dirs()
    dump = lab.extract(f"/crash/{directory}/vmcore", tmp_path / "vmcore")
    info = read_vmcore(dump)
    assert max(r.paddr + r.size for r in info.regions) > 6 * GiB
    high = pattern_addresses(dump, info, token, floor=4 * GiB)
    written = PATTERN_BYTES // len(token)
    print(f"pattern copies above 4 GiB: {len(high)} of {written} written")
    assert len(high) >= written // 2, "the file's pages are not above 4 GiB"
    assert read_paddr(dump, info, high[0], len(token)) == token
    # crash(8) for arm64 reads the same physical address.
    shown = run_crash(
        lab, dump, tmp_path, f"rd -p -a {high[0]:#x} {len(token)}\n", crash_arm64_command
    )
    assert token.decode() in shown, f"see {lab.crash_log}"


def test_a_6_gib_virt_guest_saves_its_dump_in_service_and_gets_its_memory_back(
    virt_big_lab, tmp_path, crash_arm64_command
):
    """The in-service flow at 6 GiB: Debian's arm64 makedumpfile filters the
    5.8 GiB /proc/vmcore down to what fits the 2 GiB test disk (the whole
    vmcore, which cp wrote before, does not), and the memory comes back."""
    lab = virt_big_lab
    vm = lab.start()
    with vm:
        boot_to_os(lab, vm, BOOT_TIMEOUT)
        mem_normal = meminfo(lab, vm)
        vm.send("echo c > /proc/sysrq-trigger\n")
        vm.wait_for("Kernel panic", 60)
        panicked = vm.elapsed()
        vm.wait_for("warmboot: in service", BOOT_TIMEOUT)
        in_service = vm.elapsed()
        saving = vm.wait_for_line(r"warmboot: saving the dump of (\d+) bytes with (\S+).*", 300)
        saved = vm.wait_for_line(SAVED, 1200)
        saved_at = vm.elapsed()
        vm.wait_for("warmboot: dump memory released", 300)
        mem_after = meminfo(lab, vm)
    print(
        f"virt 6 GiB in service: panic -> in service {in_service - panicked:.1f} s, "
        f"-> dump saved {saved_at - panicked:.1f} s, {int(saved[3]) >> 20} MiB"
    )
    assert saving[2] == "makedumpfile" and int(saving[1]) > 5 * GiB, saving[0]
    assert abs(mem_after - mem_normal) <= 64, (mem_normal, mem_after)
    dump = lab.extract(f"/crash/{saved[1]}/{saved[2]}", tmp_path / "dump")
    log = run_crash(lab, dump, tmp_path, "log\n", crash_arm64_command)
    assert "sysrq triggered crash" in log, f"see {lab.crash_log}"
