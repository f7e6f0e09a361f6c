"""`warmboot COMMAND` imports only the module that adds COMMAND (warmboot.cli's
table); the table must name exactly what each module registers."""

import argparse
import importlib
import subprocess
import sys

import pytest

from warmboot.cli import COMMAND_MODULES, main


def registered_commands(module_name: str) -> set[str]:
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers()
    importlib.import_module(module_name).register(sub)
    return set(sub.choices)


@pytest.mark.parametrize("module_name", sorted(set(COMMAND_MODULES.values())))
def test_the_table_names_each_command_its_module_registers(module_name):
    listed = {command for command, name in COMMAND_MODULES.items() if name == module_name}
    assert registered_commands(module_name) == listed


@pytest.mark.parametrize("command", sorted(COMMAND_MODULES))
def test_each_command_parses_with_its_module_alone(command, capsys):
    with pytest.raises(SystemExit) as exit_:
        main([command, "--help"])
    assert exit_.value.code == 0
    assert f"usage: warmboot {command}" in capsys.readouterr().out


def test_a_command_does_not_import_the_other_commands_modules():
    probe = (
        "import sys\n"
        "from warmboot.cli import main\n"
        "try:\n"
        "    main(['verify', '--help'])\n"
        "except SystemExit:\n"
        "    pass\n"
        "loaded = [m for m in sys.modules if m.startswith('warmboot.') and m.endswith('.cli')]\n"
        "print(sorted(loaded))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip().splitlines()[-1] == "['warmboot.cli', 'warmboot.release.cli']"


def test_an_unknown_command_lists_every_command(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["nosuch"])
    assert exit_.value.code == 2
    error = capsys.readouterr().err
    for command in COMMAND_MODULES:
        assert command in error


def test_help_before_the_command_lists_every_command(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["--help", "verify"])
    assert exit_.value.code == 0
    out = capsys.readouterr().out
    for command in COMMAND_MODULES:
        assert command in out
