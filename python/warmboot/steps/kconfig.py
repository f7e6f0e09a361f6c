"""Kconfig fragments (coreboot's and Linux's): what a fragment asks for, and
whether the merged configuration kept it."""

from __future__ import annotations

from .run import StepError


def config_options(fragment_text: str) -> dict[str, str | None]:
    """The options a Kconfig fragment asks for: name -> value, None for 'is not set'."""
    wanted: dict[str, str | None] = {}
    for line in fragment_text.splitlines():
        line = line.strip()
        if line.startswith("# CONFIG_") and line.endswith(" is not set"):
            wanted[line[2 : -len(" is not set")]] = None
        elif line.startswith("CONFIG_") and "=" in line:
            key, value = line.split("=", 1)
            wanted[key] = value
    return wanted


def check_config(label: str, wanted: dict[str, str | None], config_text: str) -> None:
    """Fail if Kconfig silently dropped an option we asked for (unmet dependencies)."""
    have = config_options(config_text)
    wrong = []
    for key, value in wanted.items():
        got = have.get(key)
        if value is None:
            if got not in (None, "n"):
                wrong.append(f"{key} should be unset but is {got}")
        elif value == "n":
            if got not in (None, "n"):
                wrong.append(f"{key} should be n but is {got}")
        elif got != value:
            wrong.append(f"{key}={value} requested, got {got if got is not None else 'unset'}")
    if wrong:
        raise StepError(
            f"{label}: the merged configuration lost requested options "
            "(usually an unmet dependency):\n  " + "\n  ".join(wrong)
        )
