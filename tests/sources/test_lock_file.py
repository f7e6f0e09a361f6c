"""The lock file pins every input; a malformed one is refused with a message
naming the entry and the problem."""

import pytest

from warmboot.sources import LockError, load_lock
from warmboot.sources.lock import parse_lock
from wbtest import TOP


def test_lock_pins_coreboot_4_15_linux_6_1_and_static_busybox():
    lock = load_lock(TOP / "coreboot-config/sources.lock.toml")
    assert lock.get("coreboot").version == "4.15"
    assert lock.get("linux").version.startswith("6.1.")
    assert lock.get("busybox-amd64").package == "busybox-static"
    for source in lock.sources.values():
        assert source.files and all(len(f.sha256) == 64 for f in source.files)


@pytest.mark.parametrize(
    "entry, message",
    [
        (
            {"kind": "archive", "version": "1", "files": [{"name": "a.tar", "sha256": "xyz"}]},
            "is not 64 hex digits",
        ),
        ({"kind": "zip", "version": "1", "files": []}, "kind 'zip' is not one of"),
        (
            {"kind": "archive", "files": [{"name": "a", "sha256": "0" * 64}]},
            "missing key 'version'",
        ),
        ({"kind": "archive", "version": "1", "files": []}, "no files"),
        (
            {"kind": "debian-binary", "version": "1", "files": [{"name": "a", "sha256": "0" * 64}]},
            "needs 'package'",
        ),
        (
            {"kind": "archive", "version": "1", "files": [{"name": "../a", "sha256": "0" * 64}]},
            "must be a plain name",
        ),
    ],
)
def test_malformed_entries_are_refused(entry, message, tmp_path):
    with pytest.raises(LockError, match=message):
        parse_lock({"sources": {"thing": entry}}, tmp_path / "lock.toml")


def test_unknown_source_name_lists_the_known_ones():
    lock = load_lock(TOP / "coreboot-config/sources.lock.toml")
    with pytest.raises(LockError, match=r"no source named 'nope' .*coreboot"):
        lock.get("nope")


@pytest.mark.parametrize(
    "entry, message",
    [
        (
            {"kind": "archive", "version": "1", "suite": "unstable"},
            "only Debian packages come from a suite",
        ),
        (
            {"kind": "debian-source", "version": "1", "package": "p", "suite": "Sid Main"},
            "is not a Debian suite name",
        ),
    ],
)
def test_a_suite_is_a_debian_suite_name_on_a_debian_package(entry, message, tmp_path):
    entry["files"] = [{"name": "a", "sha256": "0" * 64}]
    with pytest.raises(LockError, match=message) as err:
        parse_lock({"sources": {"thing": entry}}, tmp_path / "lock.toml")
    assert "[sources.thing]" in str(err.value) and "suite" in str(err.value)
