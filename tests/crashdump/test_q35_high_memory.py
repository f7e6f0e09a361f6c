"""Memory above 4 GiB on qemu-q35 (issue 14): a 6 GiB guest has 2 GiB below the
PCI hole and 4 GiB from 4 GiB up. Firmware judges the table against that map
(the RAM from 4 GiB is the OS's, not firmware's), so the OS's PRESERVE regions
up there are accepted, kept across the warm reset and served as /proc/vmcore;
kernel-owned data the OS left there is in the saved dump."""

from __future__ import annotations

import re
import secrets
import shutil

import pytest

from crashlab import (
    BANNER,
    Lab,
    boot_to_os,
    count,
    pattern_addresses,
    read_paddr,
    run_crash,
    wait_in_service_and_saved,
)
from warmboot.vmcore.reader import read_vmcore

pytestmark = pytest.mark.qemu

GiB = 1 << 30
PIPES = 8  # pipe buffers full of the pattern: kernel pages (GFP_HIGHUSER), kept by -d 31
FILL = 61440  # under a pipe's 64 KiB, so the writer never blocks


@pytest.fixture
def big_lab(crash_images, tmp_path, request):
    yield Lab(crash_images, tmp_path, request.node.name, memory="6G")
    shutil.rmtree(tmp_path, ignore_errors=True)  # a 2 GiB disk and the dump


def test_kernel_data_above_4_gib_is_kept_and_in_the_saved_dump(big_lab, tmp_path):
    lab = big_lab
    lab.put_text('MAKEDUMP_ARGS="-E -d 31"\n', "/boot/warmboot-dump.conf")
    token = f"WBHIGH{secrets.token_hex(13)}".encode()  # 32 bytes
    vm = lab.start()
    with vm:
        boot_to_os(lab, vm)
        high_ram = lab.shell(
            vm,
            "echo \"HIGHRAM $(grep -c '^1[0-9a-f]\\{8\\}-.* : System RAM' /proc/iomem)\"",
            r"HIGHRAM (\d+)",
        )
        # Pipes nobody reads: their buffers are kernel pages holding the pattern.
        for _ in range(PIPES):
            vm.send(f"(yes {token.decode()} | head -c {FILL}; sleep 100000) | sleep 100000 &\n")
        lab.shell(vm, 'sleep 2; echo FILL""ED', r"(FILLED)")
        vm.send("echo c > /proc/sysrq-trigger\n")
        vm.wait_for("Kernel panic", 60)
        panicked = vm.elapsed()
        mark = len(vm.output)
        in_service, saved_at, saved = wait_in_service_and_saved(vm)
        rest = vm.output[mark:]
    print(
        f"6 GiB: panic -> in service {in_service - panicked:.1f} s, "
        f"-> dump saved {saved_at - panicked:.1f} s; dump {saved[3]} bytes"
    )
    assert int(high_ram.group(1)) >= 1, "the OS saw no RAM above 4 GiB"
    assert count(rest, BANNER) == 1
    accepted = re.search(r"warmboot: PMT generation \d+ accepted.*\((\d+) MiB\)", rest)
    assert accepted, "firmware did not accept the table"
    assert int(accepted.group(1)) > 5 * 1024, accepted.group(0)  # most of 6 GiB kept

    # Released, the driver armed again with a destination from the allocator;
    # romstage copies with 32-bit pointers, so it must lie below 4 GiB.
    rearmed = re.findall(r"warmboot: armed generation \d+ .* -> (0x[0-9a-f]+)", rest)
    assert rearmed and int(rearmed[-1], 16) + (80 << 20) <= 4 * GiB, rearmed
    dump = lab.extract(f"/crash/{saved[1]}/{saved[2]}", tmp_path / "dump")
    info = read_vmcore(dump)
    assert max(r.paddr + r.size for r in info.regions) > 4 * GiB
    found = pattern_addresses(dump, info, token)
    high = [a for a in found if a >= 4 * GiB]
    print(f"pattern copies: {len(found)}, above 4 GiB: {len(high)}")
    assert high, [hex(a) for a in found]
    assert read_paddr(dump, info, high[0], len(token)) == token
    # crash(8) reads the same physical address.
    shown = run_crash(lab, dump, tmp_path, f"rd -p -a {high[0]:#x} {len(token)}\n")
    assert token.decode() in shown, f"see {lab.crash_log}"
