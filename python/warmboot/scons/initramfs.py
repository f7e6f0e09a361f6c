"""SCons tool: a reproducible busybox initramfs.

The archive is written by the kernel's own usr/gen_init_cpio (built from the
pinned Linux tree): entries in a fixed order, uid/gid 0, one fixed mtime. It
is compressed with lz4 (steps/initramfs.py says why).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

from SCons.Action import Action

from warmboot.scons import sources
from warmboot.scons.common import scons_step, tool
from warmboot.steps.initramfs import COMPRESS_ARGS, MTIME, cpio_list
from warmboot.steps.run import StepError, fresh_log, host_env, run_logged, say


@scons_step
def _build_gen_init_cpio(target, source, env):
    src = env.SourceTree("linux").path / "usr" / "gen_init_cpio.c"
    out = Path(str(target[0]))
    out.parent.mkdir(parents=True, exist_ok=True)
    log = fresh_log(Path(env.subst("$WB_LOGS")) / "gen_init_cpio.log")
    run_logged(
        "initramfs",
        "compiling the kernel's gen_init_cpio",
        ["gcc", "-O2", "-o", str(out), str(src)],
        log,
    )
    return 0


@scons_step
def _build_initramfs(target, source, env):
    board = env["WB_BOARD_OBJ"]
    out = Path(str(target[0]))
    top = Path(env.subst("$WB_TOP"))
    gen = Path(str(source[0]))
    busybox = env.SourceTree(board.busybox_source).path
    extra = [(dest, Path(src)) for dest, src in env["WB_INITRAMFS_EXTRA"]]
    variant = env["WB_INITRAMFS_VARIANT"]
    stage = out.parent / "stage"
    if stage.exists():
        shutil.rmtree(stage)
    listing = cpio_list(
        top / "linuxboot/initramfs/skeleton.list",
        busybox,
        top / env["WB_INITRAMFS_ROOTFS"],
        extra,
        stage,
        links=list(env["WB_INITRAMFS_LINKS"]),
    )
    logs = Path(env.subst("$WB_LOGS"))
    log = fresh_log(logs / f"{variant}.log")
    (logs / f"{variant}.list").write_text(listing)
    say("initramfs", f"packing {listing.count(chr(10))} entries (list: {logs / variant}.list)")
    tmp = out.with_name(f".{out.name}.tmp")
    with open(tmp, "wb") as packed, open(log, "ab") as err:
        gen_proc = subprocess.Popen(
            [str(gen), "-t", MTIME, "/dev/stdin"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=err,
            env=host_env(),
        )
        compressor = subprocess.Popen(
            COMPRESS_ARGS, stdin=gen_proc.stdout, stdout=packed, stderr=err, env=host_env()
        )
        assert gen_proc.stdout and gen_proc.stdin  # both are PIPEs
        gen_proc.stdout.close()
        gen_proc.stdin.write(listing.encode())
        gen_proc.stdin.close()
        if gen_proc.wait() != 0 or compressor.wait() != 0:
            tmp.unlink(missing_ok=True)
            raise StepError(f"initramfs: gen_init_cpio or lz4 failed; see {log}")
    os.replace(tmp, out)
    say("initramfs", f"{out} ({out.stat().st_size} bytes)")
    return 0


def _gen_init_cpio(env):
    if "WB_GEN_INIT_CPIO" not in env:
        env["WB_GEN_INIT_CPIO"] = env.Command(
            "$WB_BUILD/host/gen_init_cpio",
            env.PinnedSource("linux"),
            Action(_build_gen_init_cpio, "[initramfs] building gen_init_cpio"),
        )
    return env["WB_GEN_INIT_CPIO"]


def initramfs_build(
    env,
    board,
    extra: list[tuple[str, object]] | None = None,
    variant: str = "initramfs",
    rootfs: str = "linuxboot/initramfs/rootfs",
    links: list[tuple[str, str]] | None = None,
):
    """Target: <variant>/initramfs.cpio.lz4 holding the skeleton, busybox, the
    files under rootfs (relative to the checkout), extra: (path in the
    initramfs, SCons node) pairs, and links: (path, target) symbolic links."""
    top = Path(env.Dir("#").abspath)
    gen = _gen_init_cpio(env)
    rootfs_files = sorted(p for p in (top / rootfs).rglob("*") if p.is_file())
    extra = extra or []
    modes = {str(p.relative_to(top)): oct(p.stat().st_mode & 0o777) for p in rootfs_files}
    settings = {
        "compress": COMPRESS_ARGS,
        "mtime": MTIME,
        "modes": modes,
        "extra": [dest for dest, _ in extra],
        "links": sorted(links or []),
        "busybox": board.busybox_source,
    }
    return env.Command(
        f"$WB_BUILD/{variant}/initramfs.cpio.lz4",
        [
            gen,
            env.PinnedSource(board.busybox_source),
            str(top / "linuxboot/initramfs/skeleton.list"),
            *map(str, rootfs_files),
            *[node for _, node in extra],
            env.Value(json.dumps(settings, sort_keys=True)),
        ],
        Action(_build_initramfs, f"[initramfs] packing {variant} for $WB_BOARD"),
        WB_INITRAMFS_VARIANT=variant,
        WB_INITRAMFS_ROOTFS=rootfs,
        WB_INITRAMFS_LINKS=sorted(links or []),
        WB_INITRAMFS_EXTRA=[
            (
                dest,
                env.File(node).abspath if not isinstance(node, list) else env.File(node[0]).abspath,
            )
            for dest, node in extra
        ],
    )


@tool(sources)
def generate(env):
    env.AddMethod(initramfs_build, "InitramfsBuild")
