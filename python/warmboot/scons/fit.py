"""SCons tool: the FIT image an arm64 board's coreboot boots as its payload.

coreboot 4.15 boots an arm64 Linux kernel only from a FIT (a flattened image
tree: the kernel, an initramfs and a device tree in one FDT, its
src/lib/fit_payload.c): it picks the default configuration, rewrites the
tree's /memory from its memory map, applies its device-tree fixups
(warmboot's PMT hand-off among them), places the three and jumps to the
kernel with the tree in x0. It does not use the tree QEMU leaves in RAM, so
the board's tree is board data (coreboot-config/boards/<board>/*.dts),
compiled with dtc; the kernel command line from board.toml goes into
/chosen/bootargs.

The FIT is written with libfdt (what mkimage would produce from an .its
file, without hashes or a timestamp, which coreboot ignores), so two builds
are bit-identical.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import libfdt
from SCons.Action import Action

from warmboot.scons.common import scons_step, tool
from warmboot.steps.run import StepError, fresh_log, host_env, run_logged, say
from warmboot.toolchain import tool_version

FIT_ARCH = {"aarch64": "arm64"}
DTB_PAD = 4096  # libfdt needs room to add /chosen/bootargs


def compile_dts(dts: Path, out: Path, log: Path) -> bytes:
    """dtc DTS -> DTB; warnings go to the log, errors fail the step."""
    run_logged(
        "fit",
        f"compiling {dts.name} with dtc",
        ["dtc", "-I", "dts", "-O", "dtb", "-o", str(out), str(dts)],
        log,
        env=host_env(),
    )
    return out.read_bytes()


def with_bootargs(dtb: bytes, cmdline: str) -> bytes:
    """The tree with /chosen/bootargs = cmdline (a /chosen node is created if needed)."""
    try:
        fdt = libfdt.Fdt(bytearray(dtb))
        fdt.resize(fdt.totalsize() + len(cmdline) + DTB_PAD)
        chosen = fdt.subnode_offset(0, "chosen", libfdt.QUIET_NOTFOUND)
        if chosen < 0:
            chosen = fdt.add_subnode(0, "chosen")
        fdt.setprop_str(chosen, "bootargs", cmdline)
        fdt.pack()
        return bytes(fdt.as_bytearray())
    except libfdt.FdtException as exc:
        raise StepError(f"fit: cannot set /chosen/bootargs: {exc}") from exc


def _image(
    sw, name: str, description: str, data: bytes, kind: str, fit_arch: str, os_name: str | None
) -> None:
    """One /images node: the data stored as is (compression "none")."""
    with sw.add_node(name):
        sw.property_string("description", description)
        sw.property("data", data)
        sw.property_string("type", kind)
        sw.property_string("arch", fit_arch)
        if os_name:
            sw.property_string("os", os_name)
        sw.property_string("compression", "none")


def make_fit(kernel: bytes, initramfs: bytes, dtb: bytes, arch: str, description: str) -> bytes:
    """A FIT with one configuration: kernel (uncompressed Image), ramdisk, fdt."""
    try:
        fit_arch = FIT_ARCH[arch]
    except KeyError:
        raise StepError(f"fit: no FIT architecture for {arch!r}") from None
    try:
        sw = libfdt.FdtSw()
        sw.finish_reservemap()
        with sw.add_node(""):
            sw.property_string("description", description)
            sw.property_u32("#address-cells", 1)
            with sw.add_node("images"):
                _image(sw, "kernel", "LinuxBoot kernel", kernel, "kernel", fit_arch, "linux")
                _image(
                    sw, "ramdisk", "LinuxBoot initramfs", initramfs, "ramdisk", fit_arch, "linux"
                )
                _image(sw, "fdt", "board device tree", dtb, "flat_dt", fit_arch, None)
            with sw.add_node("configurations"):
                sw.property_string("default", "linuxboot")
                with sw.add_node("linuxboot"):
                    sw.property_string("description", description)
                    sw.property_string("kernel", "kernel")
                    sw.property_string("ramdisk", "ramdisk")
                    sw.property_string("fdt", "fdt")
        fdt = sw.as_fdt()
        fdt.pack()
        return bytes(fdt.as_bytearray())
    except libfdt.FdtException as exc:
        raise StepError(f"fit: cannot build the FIT: {exc}") from exc


@scons_step
def _build_fit(target, source, env):
    board = env["WB_BOARD_OBJ"]
    fit_out, dtb_out = Path(str(target[0])), Path(str(target[1]))
    kernel, initramfs = Path(str(source[0])), Path(str(source[1]))
    log = fresh_log(Path(env.subst("$WB_LOGS")) / "fit.log")
    raw = dtb_out.with_name(".board-nobootargs.dtb")
    dtb = with_bootargs(compile_dts(board.payload.devicetree, raw, log), board.linux.cmdline)
    raw.unlink(missing_ok=True)
    dtb_out.write_bytes(dtb)
    fit = make_fit(
        kernel.read_bytes(),
        initramfs.read_bytes(),
        dtb,
        board.arch,
        f"warmboot LinuxBoot for {board.name}",
    )
    tmp = fit_out.with_name(f".{fit_out.name}.tmp")
    tmp.write_bytes(fit)
    os.replace(tmp, fit_out)
    say(
        "fit",
        f"{fit_out} ({len(fit)} bytes: kernel {kernel.stat().st_size}, initramfs "
        f"{initramfs.stat().st_size}, device tree {len(dtb)})",
    )
    return 0


def fit_image(env, board, kernel, initramfs):
    """Targets: payload/linuxboot.fit and the device tree inside it, payload/board.dtb."""
    if board.payload.devicetree is None:
        raise StepError(f"fit: board {board.name} has no [payload] devicetree")
    settings = {
        "cmdline": board.linux.cmdline,
        "arch": board.arch,
        "dtc": tool_version(["dtc", "--version"]),
    }
    return env.Command(
        ["$WB_BUILD/payload/linuxboot.fit", "$WB_BUILD/payload/board.dtb"],
        [
            kernel[0],
            initramfs,
            str(board.payload.devicetree),
            env.Value(json.dumps(settings, sort_keys=True)),
        ],
        Action(_build_fit, "[fit] assembling the LinuxBoot FIT for $WB_BOARD"),
    )


@tool()
def generate(env):
    env.AddMethod(fit_image, "FitImage")
