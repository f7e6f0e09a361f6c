"""Each SCons tool is applied with env.Tool(module.generate) and applies the
tools whose methods it calls itself, once, so the order does not matter."""

from SCons.Environment import Environment

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
from warmboot.scons.common import APPLIED

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
METHODS = {
    sources: "PinnedSource",
    coreboot: "CorebootBuild",
    linux: "LinuxBuild",
    payloads: "PayloadTools",
    initramfs: "InitramfsBuild",
    fit: "FitImage",
    cbfs: "CbfsImage",
    manifest: "BuildManifest",
    sign: "Release",
    testos: "TestOsDisk",
    qemu: "QemuRun",
    flashlayout: "FlashLayout",
}


def test_a_tool_brings_the_tools_it_calls():
    env = Environment(tools=[])
    env.Tool(coreboot.generate)
    assert hasattr(env, "CorebootBuild")
    assert all(hasattr(env, name) for name in ("PinnedSource", "SourceTree", "IsOverride"))
    assert sorted(env[APPLIED]) == ["warmboot.scons.coreboot", "warmboot.scons.sources"]


def test_every_tool_is_applied_once_in_any_order():
    for order in (TOOLS, tuple(reversed(TOOLS))):
        env = Environment(tools=[])
        for tool in order + order:
            env.Tool(tool.generate)
        assert sorted(env[APPLIED]) == sorted(tool.__name__ for tool in TOOLS)
        assert all(hasattr(env, name) for name in METHODS.values())
