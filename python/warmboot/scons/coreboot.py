"""SCons tool: build coreboot 4.15 for a board, without a payload.

The payload is added afterwards by the cbfs tool, so a new kernel or
initramfs never rebuilds coreboot. Each build starts from a fresh copy of the
verified tree, applies coreboot-config/patches/4.15/*.patch, adds the
out-of-tree code in coreboot-config/site-local/, and checks the resulting
.config against what the board asked for.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from SCons.Action import Action

from warmboot.scons import sources
from warmboot.scons.common import scons_step, tool
from warmboot.steps.coreboot import COREBOOT_SERIES, LEFTOVERS, LIBPMT, make_env
from warmboot.steps.kconfig import check_config, config_options
from warmboot.steps.patches import apply_patches
from warmboot.steps.run import StepError, copy_file, fresh_log, jobs, run_logged, say
from warmboot.toolchain import tool_version


@scons_step
def _build_coreboot(target, source, env):
    board = env["WB_BOARD_OBJ"]
    rom_out, cbfstool_out, config_out = (Path(str(t)) for t in target)
    work = Path(env.subst("$WB_BUILD")) / "coreboot"
    src = work / "src"
    log = fresh_log(Path(env.subst("$WB_LOGS")) / "coreboot.log")
    tree = env.SourceTree("coreboot")

    say("coreboot", f"copying the verified tree to {src}")
    if src.exists():
        shutil.rmtree(src)
    src.parent.mkdir(parents=True, exist_ok=True)
    run_logged("coreboot", "copying source", ["cp", "-a", str(tree.path), str(src)], log)
    for leftover in LEFTOVERS:
        p = src / leftover
        if p.is_dir():
            shutil.rmtree(p)
        elif p.exists():
            p.unlink()

    if board.coreboot.bl31_source:
        # TF-A where coreboot's arm64 build looks for it; it builds BL31 itself.
        bl31 = env.SourceTree(board.coreboot.bl31_source)
        dest = src / board.coreboot.bl31_tree
        if dest.exists():
            shutil.rmtree(dest)
        run_logged(
            "coreboot",
            f"copying {board.coreboot.bl31_source} to {board.coreboot.bl31_tree}",
            ["cp", "-a", str(bl31.path), str(dest)],
            log,
        )
    apply_patches(
        "coreboot",
        f"coreboot {COREBOOT_SERIES}",
        src,
        [Path(p) for p in env["WB_COREBOOT_PATCHES"]],
        log,
    )
    top = Path(env.subst("$WB_TOP"))
    site_local = top / "coreboot-config" / "site-local"
    if site_local.is_dir() and any(site_local.iterdir()):
        shutil.copytree(
            site_local,
            src / "site-local",
            dirs_exist_ok=True,
            ignore=shutil.ignore_patterns("*.md"),
        )
        # The PMT validator is shared with the payload tools: one copy in payloads/.
        shutil.copytree(top / LIBPMT, src / "site-local" / "libpmt", dirs_exist_ok=True)

    fragment = board.coreboot.defconfig.read_text()
    fragment += f"\nCONFIG_COREBOOT_ROMSIZE_KB_{board.coreboot.rom_size_kib}=y\n"
    (src / "defconfig.warmboot").write_text(fragment)
    env_for_make = make_env(src)
    make = ["make", "-C", str(src)]
    run_logged(
        "coreboot",
        "make defconfig",
        [*make, "defconfig", "KBUILD_DEFCONFIG=defconfig.warmboot"],
        log,
        env=env_for_make,
    )
    config = (src / ".config").read_text()
    check_config("coreboot", config_options(fragment), config)
    have = config_options(config)
    if have.get("CONFIG_MAINBOARD_DIR") != f'"{board.coreboot.mainboard}"':
        raise StepError(
            f"coreboot: board.toml names mainboard {board.coreboot.mainboard}, "
            f"but the defconfig selects {have.get('CONFIG_MAINBOARD_DIR')}"
        )
    seconds = run_logged(
        "coreboot",
        f"building {board.coreboot.mainboard} with {jobs()} jobs",
        # gcc 12 raises -Werror=array-compare in 4.15's src/lib/cbfs.c; warmboot's
        # own code still gets -Werror (end of coreboot-config/site-local/Makefile.inc).
        [*make, f"-j{jobs()}", "CONFIG_WARNINGS_ARE_ERRORS=n", *board.coreboot.make_vars],
        log,
        env=env_for_make,
    )
    say("coreboot", f"done in {seconds:.0f} s")
    copy_file(src / "build" / "coreboot.rom", rom_out)
    copy_file(src / "build" / "cbfstool", cbfstool_out)
    copy_file(src / ".config", config_out)
    return 0


def coreboot_build(env, board):
    """Targets: the payload-less ROM, the cbfstool built with it, and its .config."""
    top = Path(env.Dir("#").abspath)
    stamp = env.PinnedSource("coreboot")
    patches = sorted((top / "coreboot-config" / "patches" / COREBOOT_SERIES).glob("*.patch"))
    site_local = sorted(
        p
        for p in (top / "coreboot-config" / "site-local").rglob("*")
        if p.is_file() and p.suffix != ".md"
    )
    site_local += sorted((top / LIBPMT).glob("*.[ch]"))
    settings = {
        "mainboard": board.coreboot.mainboard,
        "rom_size_kib": board.coreboot.rom_size_kib,
        "make_vars": [
            "CONFIG_WARNINGS_ARE_ERRORS=n",
            "BUILD_TIMELESS=1",
            *board.coreboot.make_vars,
        ],
        "tools": env["WB_TOOL_VERSIONS"]["coreboot"],
    }
    inputs = [stamp]
    if board.coreboot.bl31_source:
        inputs.append(env.PinnedSource(board.coreboot.bl31_source))
        settings["bl31"] = {"source": board.coreboot.bl31_source, "tree": board.coreboot.bl31_tree}
    if board.arch != "x86_64":
        # coreboot's xcompile finds the board's cross compiler on PATH.
        settings["cross_gcc"] = tool_version([f"{board.arch}-linux-gnu-gcc", "--version"])
    targets = env.Command(
        [
            "$WB_BUILD/coreboot/coreboot-nopayload.rom",
            "$WB_BUILD/coreboot/cbfstool",
            "$WB_BUILD/coreboot/config",
        ],
        [
            *inputs,
            str(board.coreboot.defconfig),
            *map(str, patches),
            *map(str, site_local),
            env.Value(json.dumps(settings, sort_keys=True)),
        ],
        Action(_build_coreboot, "[coreboot] building $WB_BOARD"),
        WB_COREBOOT_PATCHES=[str(p) for p in patches],
    )
    if env.IsOverride("coreboot"):
        env.AlwaysBuild(targets)
    return targets


@tool(sources)
def generate(env):
    env.AddMethod(coreboot_build, "CorebootBuild")
