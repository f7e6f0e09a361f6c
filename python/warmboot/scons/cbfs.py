"""SCons tool: put the LinuxBoot payload (and later other files) into the ROM.

cbfstool add-payload is used rather than coreboot's CONFIG_PAYLOAD_LINUX,
whose Makefile expands '$' inside CONFIG_LINUX_COMMAND_LINE. An x86 board's
payload is the bzImage with its initramfs and command line; an arm64
board's is the FIT built by the fit tool.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

from SCons.Action import Action

from warmboot.release import cbfstool_add_release_root_argv, release_root_cbfs_file
from warmboot.scons.common import scons_step, tool
from warmboot.steps.run import StepError, fresh_log, run_logged, say

PAYLOAD_NAME = "fallback/payload"


def cbfs_print(cbfstool: Path, rom: Path) -> str:
    result = subprocess.run([str(cbfstool), str(rom), "print"], capture_output=True, text=True)
    if result.returncode != 0:
        raise StepError(f"cbfstool {rom} print failed: {result.stderr.strip()}")
    return result.stdout


@scons_step
def _add_payload(target, source, env):
    rom_out = Path(str(target[0]))
    base_rom, cbfstool, kernel = (Path(str(s)) for s in source[:3])
    cmdline = env["WB_CMDLINE"]
    log = fresh_log(Path(env.subst("$WB_LOGS")) / "cbfs.log")
    tmp = rom_out.with_name(f".{rom_out.name}.tmp")
    tmp.write_bytes(base_rom.read_bytes())
    try:
        if env["WB_PAYLOAD_FORMAT"] == "fit":
            # The FIT holds the kernel, the initramfs and the device tree
            # (whose /chosen/bootargs is the command line); cbfstool stores it
            # as is, and coreboot's FIT loader places its parts at boot.
            run_logged(
                "cbfs",
                f"adding {PAYLOAD_NAME} (FIT {kernel.name})",
                [str(cbfstool), str(tmp), "add-payload", "-n", PAYLOAD_NAME, "-f", str(kernel)],
                log,
            )
        else:
            initramfs = Path(str(source[3]))
            run_logged(
                "cbfs",
                f"adding {PAYLOAD_NAME} (kernel {kernel.name}, initramfs, cmdline {cmdline!r})",
                [
                    str(cbfstool),
                    str(tmp),
                    "add-payload",
                    "-n",
                    PAYLOAD_NAME,
                    "-f",
                    str(kernel),
                    "-I",
                    str(initramfs),
                    "-C",
                    cmdline,
                ],
                log,
            )
        root = env["WB_RELEASE_ROOT_FILE"]
        if root:
            # The release root, so LinuxBoot can verify what it boots (docs/releases.md).
            embedded = Path(env.subst("$WB_BUILD")) / "release-root.json"
            embedded.write_bytes(release_root_cbfs_file(Path(root).read_bytes()))
            run_logged(
                "cbfs",
                f"embedding the release root {root}",
                cbfstool_add_release_root_argv(cbfstool, tmp, embedded),
                log,
            )
        with open(log, "a") as out:
            out.write(cbfs_print(cbfstool, tmp))
        os.replace(tmp, rom_out)
    finally:
        tmp.unlink(missing_ok=True)
    say("cbfs", f"{rom_out} ready")
    return 0


def cbfs_image(env, board, coreboot, kernel, initramfs, release_root: str = ""):
    """Target: coreboot.rom = the payload-less ROM plus the LinuxBoot payload,
    and the newest release root when release_root names one.

    For a "fit" board, kernel is the FIT (env.FitImage) and initramfs is None:
    the FIT already holds it."""
    base_rom, cbfstool = coreboot[0], coreboot[1]
    fmt = board.payload.format
    settings = {
        "cmdline": board.linux.cmdline,
        "payload": PAYLOAD_NAME,
        "release_root": bool(release_root),
    }
    if fmt != "bzimage":
        settings["format"] = fmt
    payload = [kernel[0]] if fmt == "fit" else [kernel[0], initramfs]
    return env.Command(
        "$WB_BUILD/coreboot.rom",
        [
            base_rom,
            cbfstool,
            *payload,
            *([release_root] if release_root else []),
            env.Value(json.dumps(settings, sort_keys=True)),
        ],
        Action(_add_payload, "[cbfs] assembling $TARGET"),
        WB_CMDLINE=board.linux.cmdline,
        WB_RELEASE_ROOT_FILE=release_root,
        WB_PAYLOAD_FORMAT=fmt,
    )


@tool()
def generate(env):
    env.AddMethod(cbfs_image, "CbfsImage")
