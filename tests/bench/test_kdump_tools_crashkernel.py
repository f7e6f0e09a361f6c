"""kdump's crashkernel= as Debian's kdump-tools sets it: read from the pinned
package, and evaluated like the kernel's range syntax."""

from __future__ import annotations

import pytest

from warmboot.bench.errors import BenchError
from warmboot.bench.kdump_tools import (
    crashkernel_bytes,
    crashkernel_from_snippet,
    debian_crashkernel,
)
from wbtest import TOP

MiB, GiB = 1 << 20, 1 << 30


def test_the_pinned_kdump_tools_reserves_128_mib_from_384_mib_up():
    # The GRUB snippet of kdump-tools 1:1.8.1 (bookworm), read from the package.
    assert debian_crashkernel(TOP) == "384M-:128M"


@pytest.mark.parametrize(
    ("ram", "reserved"),
    [(256 * MiB, 0), (384 * MiB - 1, 0), (384 * MiB, 128 * MiB), (2048 * GiB, 128 * MiB)],
)
def test_an_open_range_reserves_its_size_from_its_start(ram, reserved):
    assert crashkernel_bytes("384M-:128M", ram) == reserved


def test_the_first_range_holding_the_ram_size_wins_and_ends_are_exclusive():
    spec = "512M-2G:64M,2G-64G:256M,64G-:1G"
    assert crashkernel_bytes(spec, 511 * MiB) == 0
    assert crashkernel_bytes(spec, 2 * GiB - 1) == 64 * MiB
    assert crashkernel_bytes(spec, 2 * GiB) == 256 * MiB
    assert crashkernel_bytes(spec, 256 * GiB) == GiB


def test_a_plain_size_is_reserved_at_any_ram_size():
    assert crashkernel_bytes("64M", 512 * MiB) == 64 * MiB
    assert crashkernel_bytes("128M@16M", 8 * GiB) == 128 * MiB


@pytest.mark.parametrize("spec", ["384M:128M", "2G-1G:64M", "abc", "1G-:lots"])
def test_a_malformed_crashkernel_is_refused(spec):
    with pytest.raises(BenchError):
        crashkernel_bytes(spec, GiB)


def test_the_snippet_must_set_crashkernel_once():
    line = 'GRUB_CMDLINE_LINUX_DEFAULT="$GRUB_CMDLINE_LINUX_DEFAULT crashkernel=384M-:128M"\n'
    assert crashkernel_from_snippet(line) == "384M-:128M"
    with pytest.raises(BenchError, match="0 times"):
        crashkernel_from_snippet("GRUB_CMDLINE_LINUX_DEFAULT=quiet\n")
