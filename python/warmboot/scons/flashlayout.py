"""SCons tool: for a board whose image fills only some flash regions ([flash] in
board.toml, e.g. lenovo-x230's BIOS region), check the built image against the
region layout and write build/<board>/flash.layout, a flashrom layout file
(`flashrom -l flash.layout -i bios -w coreboot.rom`)."""

from __future__ import annotations

import json
from pathlib import Path

from SCons.Action import Action

from warmboot.flashregion import check_region_image
from warmboot.scons.common import scons_step, tool


@scons_step
def _flash_layout(target, source, env):
    board = env["WB_BOARD_OBJ"]
    rom = Path(str(source[0]))
    check_region_image(rom.read_bytes(), board.flash, board.coreboot.rom_size_kib * 1024, str(rom))
    Path(str(target[0])).write_text(board.flash.layout_text())
    return 0


def flash_layout(env, board, rom):
    return env.Command(
        "$WB_BUILD/flash.layout",
        [rom, env.Value(json.dumps(board.flash.as_json(), sort_keys=True))],
        Action(_flash_layout, "[flash] checking the regions of $SOURCE"),
    )


@tool()
def generate(env):
    env.AddMethod(flash_layout, "FlashLayout")
