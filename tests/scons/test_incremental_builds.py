"""Builds are incremental: a second scons does nothing, and a change to the
initramfs rebuilds neither coreboot nor the kernel."""

import secrets

from wbtest import copy_checkout, run_scons

STEP_MARKERS = (
    "[coreboot]",
    "[linux]",
    "[initramfs]",
    "[cbfs]",
    "[manifest]",
    "[sources]",
    "[payloads]",
    "[testos]",
)


def test_second_scons_with_nothing_changed_does_no_work(q35):
    rom_mtime = q35.rom.stat().st_mtime_ns
    question = run_scons(["-q", "board=qemu-q35"])
    assert question.returncode == 0, f"scons -q says targets are out of date:\n{question.output}"
    again = run_scons(["board=qemu-q35"])
    assert again.returncode == 0, again.output
    ran = [line for line in again.output.splitlines() if line.startswith(STEP_MARKERS)]
    assert ran == [], f"a no-op rebuild ran steps: {ran}"
    assert "is up to date" in again.output
    assert q35.rom.stat().st_mtime_ns == rom_mtime
    print(f"no-op rebuild took {again.seconds:.2f} s")


def test_changing_only_the_initramfs_rebuilds_neither_coreboot_nor_the_kernel(q35, tmp_path):
    checkout = copy_checkout(tmp_path / "checkout")
    # The copy's first build comes out of the shared SCons cache.
    first = run_scons(["board=qemu-q35"], cwd=checkout)
    assert first.returncode == 0, first.output
    init = checkout / "linuxboot/initramfs/rootfs/init"
    # A change never made before, so SCons' cache cannot already hold its result.
    token = secrets.token_hex(8)
    init.write_text(init.read_text().replace("exec setsid", f"echo {token}\nexec setsid"))
    dry = run_scons(["-n", "board=qemu-q35"], cwd=checkout)
    assert dry.returncode == 0, dry.output
    planned = [line for line in dry.output.splitlines() if line.startswith(STEP_MARKERS)]
    assert any(line.startswith("[initramfs] packing") for line in planned), planned
    assert not any(line.startswith(("[coreboot]", "[linux]")) for line in planned), planned
    # And for real: the new ROM differs, the kernel and coreboot outputs do not.
    kernel = checkout / "build/qemu-q35/linux/bzImage"
    base = checkout / "build/qemu-q35/coreboot/coreboot-nopayload.rom"
    before = (kernel.stat().st_mtime_ns, base.stat().st_mtime_ns)
    rebuilt = run_scons(["board=qemu-q35"], cwd=checkout)
    assert rebuilt.returncode == 0, rebuilt.output
    ran = [line for line in rebuilt.output.splitlines() if line.startswith(STEP_MARKERS)]
    assert any(line.startswith("[cbfs]") for line in ran), ran
    assert not any(line.startswith(("[coreboot]", "[linux]")) for line in ran), ran
    assert (kernel.stat().st_mtime_ns, base.stat().st_mtime_ns) == before
    assert (checkout / "build/qemu-q35/coreboot.rom").read_bytes() != q35.rom.read_bytes()
