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

from warmboot.toolchain import tool_version

from warmboot.build.steps import (StepError, check_config, config_options, copy_file, fresh_log, host_env,
                    jobs, run_logged, say, scons_step)

COREBOOT_SERIES = "4.15"
LIBPMT = "payloads/libpmt"


def _make_env(src: Path) -> dict[str, str]:
    version = (src / ".coreboot-version").read_text().strip() \
        if (src / ".coreboot-version").exists() else COREBOOT_SERIES
    return host_env({
        # Fixed build date and no git lookups: two builds give the same bytes,
        # and the warmboot checkout around build/ never leaks into the image.
        "BUILD_TIMELESS": "1",
        "KERNELVERSION": version,
        "GIT_CEILING_DIRECTORIES": str(src.parent),
    })


def apply_patches(src: Path, patches: list[Path], log: Path) -> None:
    """Apply each patch, checking first so that a bad one changes nothing."""
    for patch in patches:
        base = ["patch", "-p1", "--forward", "--batch", "-d", str(src), "-i", str(patch)]
        try:
            run_logged("coreboot", f"checking {patch.name}", [*base, "--dry-run"], log)
        except StepError:
            raise StepError(f"coreboot: patch {patch} does not apply to coreboot "
                            f"{COREBOOT_SERIES}; patch's output is in {log}") from None
        run_logged("coreboot", f"applying {patch.name}", base, log)


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
    for leftover in (".config", ".xcompile", "build"):
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
        run_logged("coreboot", f"copying {board.coreboot.bl31_source} to "
                               f"{board.coreboot.bl31_tree}",
                   ["cp", "-a", str(bl31.path), str(dest)], log)
    apply_patches(src, [Path(p) for p in env["WB_COREBOOT_PATCHES"]], log)
    top = Path(env.subst("$WB_TOP"))
    site_local = top / "coreboot-config" / "site-local"
    if site_local.is_dir() and any(site_local.iterdir()):
        shutil.copytree(site_local, src / "site-local", dirs_exist_ok=True,
                        ignore=shutil.ignore_patterns("*.md"))
        # The PMT validator is shared with the payload tools: one copy in payloads/.
        shutil.copytree(top / LIBPMT, src / "site-local" / "libpmt", dirs_exist_ok=True)

    fragment = board.coreboot.defconfig.read_text()
    fragment += f"\nCONFIG_COREBOOT_ROMSIZE_KB_{board.coreboot.rom_size_kib}=y\n"
    (src / "defconfig.warmboot").write_text(fragment)
    make_env = _make_env(src)
    make = ["make", "-C", str(src)]
    run_logged("coreboot", "make defconfig",
               [*make, "defconfig", "KBUILD_DEFCONFIG=defconfig.warmboot"], log, env=make_env)
    config = (src / ".config").read_text()
    check_config("coreboot", config_options(fragment), config)
    have = config_options(config)
    if have.get("CONFIG_MAINBOARD_DIR") != f'"{board.coreboot.mainboard}"':
        raise StepError(f"coreboot: board.toml names mainboard {board.coreboot.mainboard}, "
                        f"but the defconfig selects {have.get('CONFIG_MAINBOARD_DIR')}")
    seconds = run_logged(
        "coreboot", f"building {board.coreboot.mainboard} with {jobs()} jobs",
        # gcc 12 raises -Werror=array-compare in 4.15's src/lib/cbfs.c.
        [*make, f"-j{jobs()}", "CONFIG_WARNINGS_ARE_ERRORS=n", *board.coreboot.make_vars],
        log, env=make_env)
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
    site_local = sorted(p for p in (top / "coreboot-config" / "site-local").rglob("*")
                        if p.is_file() and p.suffix != ".md")
    site_local += sorted((top / LIBPMT).glob("*.[ch]"))
    settings = {
        "mainboard": board.coreboot.mainboard,
        "rom_size_kib": board.coreboot.rom_size_kib,
        "make_vars": ["CONFIG_WARNINGS_ARE_ERRORS=n", "BUILD_TIMELESS=1",
                      *board.coreboot.make_vars],
        "tools": env["WB_TOOL_VERSIONS"]["coreboot"],
    }
    inputs = [stamp]
    if board.coreboot.bl31_source:
        inputs.append(env.PinnedSource(board.coreboot.bl31_source))
        settings["bl31"] = {"source": board.coreboot.bl31_source,
                            "tree": board.coreboot.bl31_tree}
    if board.arch != "x86_64":
        # coreboot's xcompile finds the board's cross compiler on PATH.
        settings["cross_gcc"] = tool_version([f"{board.arch}-linux-gnu-gcc", "--version"])
    targets = env.Command(
        ["$WB_BUILD/coreboot/coreboot-nopayload.rom", "$WB_BUILD/coreboot/cbfstool",
         "$WB_BUILD/coreboot/config"],
        [*inputs, str(board.coreboot.defconfig), *map(str, patches), *map(str, site_local),
         env.Value(json.dumps(settings, sort_keys=True))],
        Action(_build_coreboot, "[coreboot] building $WB_BOARD"),
        WB_COREBOOT_PATCHES=[str(p) for p in patches],
    )
    if env.IsOverride("coreboot"):
        env.AlwaysBuild(targets)
    return targets


def tool_versions() -> dict[str, str]:
    return {
        "gcc": tool_version(["gcc", "--version"]),
        "ld": tool_version(["ld", "--version"]),
        "iasl": tool_version(["iasl", "-v"]) if shutil.which("iasl") else "missing",
        "make": tool_version(["make", "--version"]),
    }


def generate(env):
    env.AddMethod(coreboot_build, "CorebootBuild")


def exists(env):
    return True
