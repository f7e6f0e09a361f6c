"""What SConstruct dispatches to: checks the board and the host first, sets up
the construction environment, and wires one board's build graph together."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import SCons.Script as S

from warmboot import toolchain
from warmboot.boards import BoardError, known_boards, load_board
from warmboot.errors import WarmbootError
from warmboot.scons import (
    cbfs,
    coreboot,
    fit,
    flashlayout,
    initramfs,
    linux,
    manifest,
    payloads,
    qemu,
    sign,
    sources,
    testos,
)
from warmboot.sources.cache import SourceCache
from warmboot.steps import coreboot as coreboot_step
from warmboot.steps import debroot, hostbin
from warmboot.steps import kernel as kernel_step

# The tools a board's graph uses; each applies the tools it needs itself, so
# their order here does not matter.
TOOLS = (
    sources,
    coreboot,
    linux,
    payloads,
    initramfs,
    fit,
    cbfs,
    manifest,
    sign,
    testos,
    qemu,
    flashlayout,
)
TOP = Path(__file__).resolve().parents[3]


def boards() -> list[str]:
    return known_boards(TOP)


def help_text(variables_help: str) -> str:
    lines = [
        "warmboot: coreboot + LinuxBoot images with firmware-assisted crash dumps",
        "",
        "usage:  scons board=<board> [run] [variable=value ...]",
        "        scons board=<board> -c          remove build/<board>",
        "",
        "targets:",
        "  (default)   build build/<board>/coreboot.rom and build/<board>/manifest.json",
        "  run         build, then boot the image in QEMU with the serial console here",
        "  testos      the test OS (kernel with debug info, initramfs, ext2 disk) the",
        "              end-to-end crash-dump tests boot through LinuxBoot",
        "  release     sign a release into dist/<board>/<version>/ (docs/releases.md):",
        "              version=1.2.0 security_version=3 keys=a.key[,b.key]",
        "              release_root=root1.json[,root2.json] [expires_days=365]",
        "",
        "boards:",
    ]
    for name in boards():
        try:
            lines.append(f"  {name:12s}{load_board(TOP, name).description}")
        except BoardError as exc:
            lines.append(f"  {name:12s}(broken: {exc})")
    lines += [
        "",
        "variables:",
        variables_help,
        "environment: COREBOOT_SRC, LINUX_SRC, TFA_SRC (local source trees), WARMBOOT_CACHE,",
        "             WARMBOOT_MIRRORS (base URLs of source mirrors), WARMBOOT_ACCEL",
        "",
    ]
    return "\n".join(lines)


def fail(message: str) -> None:
    print(f"warmboot: error: {message}", file=sys.stderr)
    S.Exit(2)


def _commit() -> str:
    out = subprocess.run(
        ["git", "-C", str(TOP), "rev-parse", "HEAD"], capture_output=True, text=True
    )
    return out.stdout.strip() if out.returncode == 0 else "unknown"


def configure(env):
    """Validate the board and the toolchain, then set the WB_* variables."""
    name = env.get("board", "")
    if not name:
        fail("no board given: run `scons board=<board>`; known boards: " + ", ".join(boards()))
    try:
        board = load_board(TOP, name)
    except BoardError as exc:
        fail(str(exc))
    try:
        toolchain.check(toolchain.BUILD)
        if "run" in S.COMMAND_LINE_TARGETS:
            toolchain.check(
                toolchain.RUN_X86_64 if board.arch == "x86_64" else toolchain.RUN_AARCH64
            )
        if board.linux.cross_compile:
            toolchain.check(toolchain.cross_requirements(board.linux.cross_compile))
        if board.payload.format == "fit":
            toolchain.check(toolchain.FIT)
    except toolchain.ToolchainError as exc:
        fail(str(exc))

    cache = SourceCache(Path(env["cache"]).resolve() if env.get("cache") else None)
    build = Path(env["builddir"]).resolve() if env.get("builddir") else TOP / "build" / name
    env.Replace(
        WB_TOP=str(TOP),
        WB_LOCK=str(TOP / "coreboot-config" / "sources.lock.toml"),
        WB_BOARD=name,
        WB_BOARD_OBJ=board,
        WB_BUILD=str(build),
        WB_LOGS=str(build / "logs"),
        WB_CACHE=str(cache.root),
        WB_COMMIT=_commit(),
        WB_TOOL_VERSIONS={
            "coreboot": coreboot_step.tool_versions(),
            "linux": kernel_step.tool_versions(),
            "initramfs": {"lz4": toolchain.tool_version(["lz4", "--version"])},
        },
    )
    # Content signatures. content-timestamp would skip re-hashing files whose
    # mtime looks unchanged, and so miss an edit made within the same second.
    env.Decider("content")
    cache.scons.mkdir(parents=True, exist_ok=True)
    env.CacheDir(str(cache.scons))
    S.SConsignFile(str(build / ".sconsign"))
    return board


def image(env, board):
    """The board's build graph; returns the default targets."""
    try:
        return _image(env, board)
    except WarmbootError as exc:
        fail(str(exc))


def _roots(env) -> list[str]:
    return [p for p in env.get("release_root", "").split(",") if p]


def _image(env, board):
    coreboot = env.CorebootBuild(board)
    kernel = env.LinuxBuild(board)
    tools = env.PayloadTools(board)
    # LinuxBoot captures the crash, disarms the table and boots the OS.
    initramfs = env.InitramfsBuild(
        board, extra=[(f"/bin/{name}", tools[name]) for name in ("dumpcap", "pmtctl", "wbkexec")]
    )
    roots = _roots(env)
    root = str(Path(roots[-1]).resolve()) if roots else ""
    if board.payload.format == "fit":
        fit = env.FitImage(board, kernel, initramfs)
        rom = env.CbfsImage(board, coreboot, fit, None, release_root=root)
    else:
        rom = env.CbfsImage(board, coreboot, kernel, initramfs, release_root=root)
    outputs = {
        "coreboot.rom": rom[0],
        "kernel": kernel[0],
        "initramfs": initramfs[0],
        "coreboot.config": coreboot[2],
        "linux.config": kernel[1],
    }
    layout = []
    if board.flash:
        # A region-only image (lenovo-x230): checked, with its flashrom layout file.
        layout = env.FlashLayout(board, rom[0])
        outputs["flash.layout"] = layout[0]
    manifest = env.BuildManifest(
        board,
        outputs=outputs,
        sources=[
            "coreboot",
            "linux",
            board.busybox_source,
            *([board.coreboot.bl31_source] if board.coreboot.bl31_source else []),
        ],
        configs={
            "coreboot_defconfig": str(board.coreboot.defconfig.relative_to(TOP)),
            **{f"linux_fragment:{p.name}": str(p.relative_to(TOP)) for p in board.linux.config},
            **{f"linux_patch:{p.name}": str(p.relative_to(TOP)) for p in board.linux.patches},
            **(
                {"devicetree": str(board.payload.devicetree.relative_to(TOP))}
                if board.payload.devicetree
                else {}
            ),
        },
    )
    env.QemuRun(board, rom)
    env.Clean(rom, env.subst("$WB_BUILD"))
    if board.testos:
        os_kernel = env.LinuxBuild(board, spec=board.testos.kernel, variant="testos", vmlinux=True)
        # Debian's programs on the OS disk, linked from the initramfs: the host's
        # (steps/hostbin.py), or another architecture's from pinned packages
        # (steps/debroot.py), whose trees are fetched now to read what they load
        # (not for `scons -c`, which removes the whole build directory).
        programs = hostbin.sysroot_files(board.testos.host_tools)
        if board.testos.sysroot_programs and not env.GetOption("clean"):
            sources = board.testos.sysroot_sources
            trees = [env.SourceTree(name).path for name in sources]
            programs |= debroot.sysroot_files(board.testos.sysroot_programs, trees, sources)
        os_initramfs = env.InitramfsBuild(
            board,
            extra=[("/bin/pmtctl", tools["pmtctl"])],
            links=hostbin.sysroot_links(programs),
            variant="testos-initramfs",
            rootfs=board.testos.rootfs,
        )
        disk = env.TestOsDisk(
            board,
            os_kernel[0],
            os_initramfs,
            files={path: env.File(str(src)) for path, src in programs.items()},
        )
        env.Alias("testos", [disk, os_kernel])
    if "release" in S.COMMAND_LINE_TARGETS:
        env.Release(
            board,
            rom[0],
            manifest[0],
            version=env.get("version", ""),
            security_version=env.get("security_version", ""),
            keys=env.get("keys", ""),
            roots=roots,
            dist=env.get("dist", "") or str(TOP / "dist"),
            expires_days=env.get("expires_days", "365"),
        )
    return [rom, manifest, *layout]
