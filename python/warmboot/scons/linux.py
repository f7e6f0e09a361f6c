"""SCons tool: build a small Linux 6.1 kernel from tinyconfig plus fragments.

The verified tree in the source cache is never written to: the kernel builds
out of tree (O=) in build/<board>/linux/obj, so make's own incremental build
applies when only a fragment changes. After merge_config.sh, every option a
fragment asked for is checked, because Kconfig silently drops options whose
dependencies are unmet.
"""

from __future__ import annotations

import json
from pathlib import Path

from SCons.Action import Action

from warmboot.scons import sources
from warmboot.scons.common import scons_step, tool
from warmboot.steps.kernel import KBUILD_ENV, configure_kernel, kernel_make
from warmboot.steps.patches import patched_copy
from warmboot.steps.run import copy_file, fresh_log, host_env, jobs, run_logged, say
from warmboot.toolchain import tool_version


@scons_step
def _build_kernel(target, source, env):
    spec = env["WB_KERNEL_SPEC"]
    variant = env["WB_KERNEL_VARIANT"]
    image_out, config_out, *rest = (Path(str(t)) for t in target)
    obj = Path(env.subst("$WB_BUILD")) / variant / "obj"
    log = fresh_log(Path(env.subst("$WB_LOGS")) / f"{variant}.log")
    src = env.SourceTree("linux").path
    if spec.patches:
        src = patched_copy(
            "linux",
            "the pinned linux tree",
            src,
            Path(env.subst("$WB_BUILD")) / variant / "src",
            list(spec.patches),
            log,
        )
    make_env = host_env(KBUILD_ENV)
    configure_kernel(src, obj, spec, log, make_env)
    seconds = run_logged(
        "linux",
        f"building {spec.target} ({spec.arch}) with {jobs()} jobs",
        [*kernel_make(src, obj, spec), f"-j{jobs()}", spec.target],
        log,
        env=make_env,
    )
    say("linux", f"done in {seconds:.0f} s")
    copy_file(obj / spec.image, image_out)
    copy_file(obj / ".config", config_out)
    if rest:  # vmlinux, with its debug info, for crash(8) and gdb
        copy_file(obj / "vmlinux", rest[0])
    return 0


def linux_build(env, board, spec=None, variant: str = "linux", vmlinux: bool = False):
    """Targets: the kernel image, its merged .config and optionally vmlinux.

    spec defaults to the board's LinuxBoot kernel; variant names the output
    directory, so the test OS kernel builds beside it without interference.
    """
    spec = spec or board.linux
    stamp = env.PinnedSource("linux")
    compiler = (spec.cross_compile or "") + "gcc"
    settings = {
        "arch": spec.arch,
        "target": spec.target,
        "image": spec.image,
        "cross_compile": spec.cross_compile,
        "kbuild": KBUILD_ENV,
        "patches": [p.name for p in spec.patches],
        "tools": {"gcc": tool_version([compiler, "--version"]), **env["WB_TOOL_VERSIONS"]["linux"]},
    }
    image_name = Path(spec.image).name
    outputs = [f"$WB_BUILD/{variant}/{image_name}", f"$WB_BUILD/{variant}/config"]
    if vmlinux:
        outputs.append(f"$WB_BUILD/{variant}/vmlinux")
    targets = env.Command(
        outputs,
        [
            stamp,
            *map(str, spec.config),
            *map(str, spec.patches),
            env.Value(json.dumps(settings, sort_keys=True)),
        ],
        Action(_build_kernel, f"[linux] building {variant} {image_name} for $WB_BOARD"),
        WB_KERNEL_SPEC=spec,
        WB_KERNEL_VARIANT=variant,
    )
    if env.IsOverride("linux"):
        env.AlwaysBuild(targets)
    return targets


@tool(sources)
def generate(env):
    env.AddMethod(linux_build, "LinuxBuild")
