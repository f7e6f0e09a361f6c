"""deb-src entries are derived from the machine's own apt sources, in both
formats, and only for Debian's archive; no host name is hard-coded."""

import subprocess

import pytest

from warmboot.sources.apt import (
    AptSource,
    in_suite,
    is_debian,
    parse_deb822,
    parse_one_line,
    system_sources,
)
from warmboot.sources.errors import AptError
from wbtest import TOP

DEB822 = """\
Types: deb
URIs: http://mirror.example/debian
Suites: bookworm bookworm-updates
Components: main contrib
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: https://thirdparty.example/apt
Suites: stable
Components: main
Enabled: no

Types: deb-src
URIs: http://mirror.example/debian
Suites: bookworm
Components: main
"""

ONE_LINE = """\
# comment
deb [arch=amd64 signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://m.example/debian-security bookworm-security main
deb-src http://m.example/debian bookworm main
deb http://other.example/repo stable main # trailing
"""  # noqa: E501 -- a real sources.list line, kept whole


def test_deb822_stanzas_become_deb_and_deb_src_lines():
    sources = parse_deb822(DEB822)
    assert [(s.uri, s.suite) for s in sources] == [
        ("http://mirror.example/debian", "bookworm"),
        ("http://mirror.example/debian", "bookworm-updates"),
    ]
    assert sources[0].lines() == [
        "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] "
        "http://mirror.example/debian bookworm main contrib",
        "deb-src [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] "
        "http://mirror.example/debian bookworm main contrib",
    ]


def test_another_suite_is_asked_of_the_release_entries_only():
    sources = parse_deb822(DEB822) + parse_one_line(ONE_LINE)[:1]
    moved = in_suite(sources, "unstable")
    assert moved == [
        AptSource(
            "http://mirror.example/debian",
            "unstable",
            ("main", "contrib"),
            "/usr/share/keyrings/debian-archive-keyring.gpg",
        )
    ]
    with pytest.raises(AptError, match=r"no Debian release entry .* suite unstable"):
        in_suite(parse_one_line(ONE_LINE)[:1], "unstable")  # bookworm-security only


def test_one_line_entries_keep_signed_by_and_drop_arch():
    sources = parse_one_line(ONE_LINE)
    assert sources[0] == AptSource(
        "http://m.example/debian-security",
        "bookworm-security",
        ("main",),
        "/usr/share/keyrings/debian-archive-keyring.gpg",
    )
    assert sources[1].uri == "http://other.example/repo"
    assert len(sources) == 2  # deb-src lines are not sources to copy


def test_only_debian_archives_are_used(tmp_path):
    lists = tmp_path / "lists"
    lists.mkdir()
    (lists / "other.example_repo_dists_stable_InRelease").write_text("Origin: Other\n")
    (lists / "plain.example_debian_dists_bookworm_InRelease").write_text(
        "Origin: Debian\nLabel: Debian\n"
    )
    assert is_debian(AptSource("http://plain.example/debian", "bookworm", ("main",)), lists)
    assert not is_debian(AptSource("http://other.example/repo", "stable", ("main",)), lists)


def test_this_machine_has_a_debian_archive_to_derive_from():
    sources = system_sources()
    assert sources and all(s.components for s in sources)


def test_no_host_name_is_hard_coded_in_the_repository():
    tracked = subprocess.run(
        ["git", "-C", str(TOP), "ls-files", "-co", "--exclude-standard"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    offenders = []
    for name in tracked:
        path = TOP / name
        if not path.is_file() or "tests/" in name:
            continue
        text = path.read_text(errors="ignore")
        for host in (
            "deb.debian.org",
            "security.debian.org",
            "snapshot.debian.org",
            "ftp.debian.org",
            "salsa.debian.org",
            "kernel.org",
            "coreboot.org",
        ):
            if host in text:
                offenders.append(f"{name}: {host}")
    assert offenders == []
