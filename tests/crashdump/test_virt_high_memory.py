"""Memory above 4 GiB on qemu-virt (issue 14): RAM starts at 1 GiB, so a 6 GiB
guest has 3 GiB of it above 4 GiB. coreboot finds all of it (coreboot patch
0005 maps the whole DRAM window for its probe) and puts CBMEM, with the anchor
and the reset mailbox, at its top; the OS's PRESERVE regions up there are
accepted and kept across the warm reset, and LinuxBoot's capture writes them
to the dump: the pattern the OS left in pipe buffers above 4 GiB is in it,
read by the inspector and by crash for arm64."""

from __future__ import annotations

import re
import secrets
import shutil

import pytest

from crashlab import BANNER, Lab, boot_to_os, count, read_paddr, run_crash, wait_os_ready
from warmboot.vmcore.reader import read_vmcore

pytestmark = pytest.mark.qemu

GiB = 1 << 30
MiB = 1 << 20
BOOT_TIMEOUT = 600  # TCG: firmware, LinuxBoot and the OS, emulated
PIPES = 8  # pipe buffers full of the pattern: kernel pages the OS allocates high
FILL = 61440  # under a pipe's 64 KiB, so the writer never blocks


@pytest.fixture
def virt_big_lab(virt_crash_images, tmp_path, request):
    yield Lab(virt_crash_images, tmp_path, request.node.name, board="qemu-virt", memory="6G")
    shutil.rmtree(tmp_path, ignore_errors=True)  # the disk and a 6 GiB (sparse) dump


def high_pattern_addresses(dump, info, token: bytes, chunk: int = 64 * MiB) -> list[int]:
    """Physical addresses of the copies of token at or above 4 GiB, read in
    chunks (the regions up there are GiBs, mostly holes in the sparse file)."""
    found = []
    with open(dump, "rb") as core:
        for region in info.regions:
            start = max(region.paddr, 4 * GiB)
            end = region.paddr + region.size
            at = start
            while at < end:
                size = min(chunk + len(token) - 1, end - at)
                core.seek(region.offset + at - region.paddr)
                data = core.read(size)
                found += [at + m.start() for m in re.finditer(re.escape(token), data)]
                at += chunk
    return found


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
        # Pipes nobody reads: their buffers are kernel pages holding the pattern.
        for _ in range(PIPES):
            vm.send(f"(yes {token.decode()} | head -c {FILL}; sleep 100000) | sleep 100000 &\n")
        lab.shell(vm, 'sleep 2; echo FILL""ED', r"(FILLED)")
        vm.send("echo c > /proc/sysrq-trigger\n")
        vm.wait_for("Kernel panic", 60)
        panicked = vm.elapsed()
        mark = len(vm.output)
        saved = vm.wait_for(re.compile(r"warmboot: crash dump saved in /crash/(\S+)"), 1200)
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

    dump = lab.extract(f"/crash/{saved.group(1)}/vmcore", tmp_path / "vmcore")
    info = read_vmcore(dump)
    assert max(r.paddr + r.size for r in info.regions) > 6 * GiB
    high = high_pattern_addresses(dump, info, token)
    print(f"pattern copies above 4 GiB: {len(high)}")
    assert high, "no copy of the pattern above 4 GiB"
    assert read_paddr(dump, info, high[0], len(token)) == token
    # crash(8) for arm64 reads the same physical address.
    shown = run_crash(
        lab, dump, tmp_path, f"rd -p -a {high[0]:#x} {len(token)}\n", crash_arm64_command
    )
    assert token.decode() in shown, f"see {lab.crash_log}"
