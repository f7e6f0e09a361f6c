"""Fixtures for the payload tool tests: pmtctl, dumpcap and wbkexec."""

from __future__ import annotations

import pytest

from payloadkit import Tools, build_tools


@pytest.fixture(scope="session")
def tools(tmp_path_factory) -> Tools:
    out = tmp_path_factory.mktemp("payload-tools")
    for name, result in build_tools("gcc", out).items():
        assert result.returncode == 0, f"gcc {name}:\n{result.stdout}"
    return Tools(out)
