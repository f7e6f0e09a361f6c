"""qemu-virt boots with 1, 2 and 4 CPUs from one image: the bootblock parks every
CPU but core 0 in TF-A's holding pen (coreboot patch 0004), BL31's PSCI CPU_ON
starts them for Linux, and ramstage trims the device tree's /cpus to the CPUs
QEMU was given (site-local/qemu-virt/cpus.c)."""

import re

import pytest

from warmboot.boards import load_board
from warmboot.qemu import QemuMachine
from warmboot.sources import load_lock, materialize
from warmboot.sources.cache import SourceCache
from wbtest import TOP

pytestmark = pytest.mark.qemu

MARKER = "warmboot: linuxboot ready"
PATCH = (
    TOP
    / "coreboot-config/patches/4.15/0004-qemu-aarch64-park-secondary-cpus-in-tf-a-holding-pen.patch"
)
# The pen's constants and the TF-A definitions they must equal.
PEN = {
    "QEMU_TRUSTED_MAILBOX_BASE": "PLAT_QEMU_TRUSTED_MAILBOX_BASE",
    "QEMU_HOLD_ENTRY_SHIFT": "PLAT_QEMU_HOLD_ENTRY_SHIFT",
    "QEMU_CPU_PER_CLUSTER_SHIFT": "PLATFORM_CPU_PER_CLUSTER_SHIFT",
    "QEMU_HOLD_STATE_WAIT": "PLAT_QEMU_HOLD_STATE_WAIT",
}


def _defines(text: str) -> dict[str, str]:
    return dict(re.findall(r"^\+?#define\s+(\w+)\s+(.+?)\s*(?:/\*.*)?$", text, re.M))


def _value(defines: dict[str, str], name: str) -> int:
    """A define's integer value, following other defines and U() suffixes."""
    expr = defines[name]
    expr = re.sub(r"U\((\w+)\)", r"\1", expr)
    expr = re.sub(r"[A-Z_][A-Z0-9_]+", lambda m: str(_value(defines, m.group(0))), expr)
    return int(eval(expr, {"__builtins__": {}}))  # an arithmetic expression of integers


def test_the_holding_pen_matches_tf_a_s_qemu_platform():
    # The pinned tree the build copies into 3rdparty/ (a cached build has no copy).
    lock = load_lock(TOP / "coreboot-config" / "sources.lock.toml")
    tf_a_tree = materialize(lock.get("arm-trusted-firmware"), SourceCache()).path
    platform_def = (tf_a_tree / "plat/qemu/qemu/include/platform_def.h").read_text()
    tf_a = _defines(platform_def)
    pen = _defines(PATCH.read_text())
    for ours, theirs in PEN.items():
        assert _value(pen, ours) == _value(tf_a, theirs), (ours, theirs)
    assert _value(pen, "QEMU_HOLD_BASE") == _value(tf_a, "PLAT_QEMU_HOLD_BASE")


@pytest.mark.parametrize("cpus", [1, 2, 4])
def test_virt_boots_linuxboot_on_every_cpu_qemu_gives_it(virt, cpus):
    board = load_board(TOP, "qemu-virt")
    log = virt.build / "logs" / f"test-boot-smp{cpus}.log"
    with QemuMachine.for_board(board, virt.rom, log, extra=("-smp", str(cpus))) as vm:
        trimmed = vm.wait_for_line(r"qemu-virt: (\d) CPUs \(GICD_TYPER\).*", 120)
        brought_up = vm.wait_for_line(r"smp: Brought up 1 node, (\d) CPUs?", 240)
        vm.wait_for(MARKER, 240)
        vm.send('echo "ONLINE $(grep -c ^processor /proc/cpuinfo)"\n')
        online = vm.wait_for_line(r"ONLINE (\d+)", 30)
    text = log.read_text(errors="replace")
    assert int(trimmed.group(1)) == cpus
    assert int(brought_up.group(1)) == cpus
    assert int(online.group(1)) == cpus
    assert "failed to come online" not in text
    # Coreboot ran once, on core 0 only.
    assert text.count("bootblock starting") == 1
