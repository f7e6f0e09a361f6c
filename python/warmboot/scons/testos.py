"""SCons tool: the test OS disk, the "production" system LinuxBoot boots.

An ext2 image holding the kernel under its image name (boot/bzImage on x86,
boot/Image on arm64), boot/initramfs.cpio.lz4, boot/cmdline, the programs the
OS runs from its disk (sysroot/, steps/hostbin.py) and an empty crash/
directory, where LinuxBoot's capture writes its vmcores. It
is made with mke2fs -d from a staging directory (no mounting, no root), and
sparse, so its nominal size (room for a vmcore of all guest RAM) costs
little disk.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from SCons.Action import Action

from warmboot.scons.common import scons_step, tool
from warmboot.steps.run import fresh_log, host_env, run_logged, say

# Fixed so two builds of the image differ only where their inputs do.
FS_UUID = "5741524d-424f-4f54-8000-000000000001"


@scons_step
def _build_disk(target, source, env):
    spec = env["WB_TESTOS"]
    image = Path(str(target[0]))
    kernel, initramfs = Path(str(source[0])), Path(str(source[1]))
    stage = image.parent / "disk-root"
    if stage.exists():
        shutil.rmtree(stage)
    (stage / "boot").mkdir(parents=True)
    (stage / "crash").mkdir()
    shutil.copy2(kernel, stage / "boot" / kernel.name)
    shutil.copy2(initramfs, stage / "boot" / "initramfs.cpio.lz4")
    (stage / "boot" / "cmdline").write_text(spec.kernel.cmdline + "\n")
    for path, src in env["WB_DISK_FILES"]:
        dest = stage / path
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(src, dest)  # with its mode: programs stay executable
    log = fresh_log(Path(env.subst("$WB_LOGS")) / "testos-disk.log")
    tmp = image.with_name(f".{image.name}.tmp")
    tmp.unlink(missing_ok=True)
    run_logged(
        "testos",
        f"making the {spec.disk_mib} MiB ext2 OS disk",
        [
            "mke2fs",
            "-q",
            "-F",
            "-t",
            "ext2",
            "-b",
            "4096",
            "-U",
            FS_UUID,
            "-E",
            "root_owner=0:0",
            "-d",
            str(stage),
            str(tmp),
            f"{spec.disk_mib}M",
        ],
        log,
        env=host_env({"E2FSPROGS_FAKE_TIME": "1"}),
    )
    os.replace(tmp, image)
    say("testos", f"{image} ready")
    return 0


def testos_disk(env, board, kernel, initramfs, files=None):
    """Target: <build>/testos/os.img; files: path on the disk -> SCons node."""
    spec = board.testos
    files = dict(sorted((files or {}).items()))
    settings = {
        "cmdline": spec.kernel.cmdline,
        "disk_mib": spec.disk_mib,
        "uuid": FS_UUID,
        "files": list(files),
    }
    disk = env.Command(
        "$WB_BUILD/testos/os.img",
        [kernel, initramfs, *files.values(), env.Value(json.dumps(settings, sort_keys=True))],
        Action(_build_disk, "[testos] making the OS disk for $WB_BOARD"),
        WB_TESTOS=spec,
        WB_DISK_FILES=[(path, env.File(node).abspath) for path, node in files.items()],
    )
    env.NoCache(disk)  # sparse: a cache copy would write every byte
    return disk


@tool()
def generate(env):
    env.AddMethod(testos_disk, "TestOsDisk")
