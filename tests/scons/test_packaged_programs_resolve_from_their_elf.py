"""A board whose test OS runs a program of another architecture than the host's
(qemu-virt's arm64 makedumpfile) takes it from pinned Debian packages: the
build reads the program's ELF interpreter and libraries from the unpacked
package trees, since ldd cannot run it. Here, small trees of host ELF files
built for the test stand in for the packages; the real arm64 ones are proven
by the virt in-service capture, which saves its dump with that makedumpfile."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from warmboot.steps import debroot

LIBDIR = "lib/x86_64-linux-gnu"


def compile_c(source: str, out: Path, *flags: str) -> None:
    src = out.with_suffix(".c")
    src.write_text(source)
    subprocess.run(["gcc", "-o", str(out), str(src), *flags], check=True, capture_output=True)
    src.unlink()


@pytest.fixture(scope="module")
def packages(tmp_path_factory) -> list[Path]:
    """Three package trees: a program needing libwb.so.1; libwb (a link to its
    versioned file, in /usr/lib); libc with its loader (an absolute link, as
    Debian's libc6 ships /lib64/ld-linux-x86-64.so.2) and libgcc_s."""
    top = tmp_path_factory.mktemp("packages")
    prog, lib, libc = (top / n for n in ("prog", "libwb", "libc6"))
    (lib / f"usr/{LIBDIR}").mkdir(parents=True)
    compile_c(
        "int wb(void) { return 7; }\n",
        lib / f"usr/{LIBDIR}/libwb.so.1.0",
        "-shared",
        "-fPIC",
        "-Wl,-soname,libwb.so.1",
    )
    os.symlink("libwb.so.1.0", lib / f"usr/{LIBDIR}/libwb.so.1")
    (prog / "usr/bin").mkdir(parents=True)
    compile_c(
        "int wb(void);\nint main(void) { return wb(); }\n",
        prog / "usr/bin/prog",
        f"-L{lib / 'usr' / LIBDIR}",
        "-l:libwb.so.1",
    )
    host_libc = Path(f"/{LIBDIR}")
    (libc / LIBDIR).mkdir(parents=True)
    (libc / "lib64").mkdir()
    for name in ("libc.so.6", "ld-linux-x86-64.so.2", "libgcc_s.so.1"):
        shutil.copy(host_libc / name, libc / LIBDIR / name)
    os.symlink(f"/{LIBDIR}/ld-linux-x86-64.so.2", libc / "lib64/ld-linux-x86-64.so.2")
    return [prog, lib, libc]


def test_a_program_comes_with_its_loader_its_libraries_and_libgcc_s(packages):
    prog, lib, libc = packages
    files = debroot.program_files("/usr/bin/prog", packages)
    assert files == {
        "/usr/bin/prog": prog / "usr/bin/prog",
        "/lib64/ld-linux-x86-64.so.2": libc / LIBDIR / "ld-linux-x86-64.so.2",
        f"/usr/{LIBDIR}/libwb.so.1": lib / f"usr/{LIBDIR}/libwb.so.1.0",
        f"/{LIBDIR}/libc.so.6": libc / LIBDIR / "libc.so.6",
        f"/{LIBDIR}/libgcc_s.so.1": libc / LIBDIR / "libgcc_s.so.1",
    }


def test_on_the_disk_they_sit_under_sysroot_at_their_package_paths(packages):
    files = debroot.sysroot_files(["/usr/bin/prog"], packages)
    assert "sysroot/usr/bin/prog" in files
    assert f"sysroot/usr/{LIBDIR}/libwb.so.1" in files
    assert all(not path.is_symlink() for path in files.values())


def test_a_library_no_package_has_is_named_with_who_needs_it(packages):
    prog, _, libc = packages
    with pytest.raises(debroot.PackagedProgramError) as refused:
        debroot.program_files("/usr/bin/prog", [prog, libc], ["prog-arm64", "libc6-arm64"])
    assert str(refused.value) == (
        "libwb.so.1, which /usr/bin/prog needs, is in none of the packages prog-arm64, libc6-arm64"
    )


def test_a_program_no_package_has_is_refused(packages):
    with pytest.raises(debroot.PackagedProgramError, match="/usr/sbin/prog is in none of"):
        debroot.program_files("/usr/sbin/prog", packages, ["prog-arm64"])


def test_a_file_that_is_not_elf_is_refused(packages, tmp_path):
    (tmp_path / "usr/bin").mkdir(parents=True)
    (tmp_path / "usr/bin/script").write_text("#!/bin/sh\n")
    with pytest.raises(debroot.PackagedProgramError, match="is not a readable ELF file"):
        debroot.program_files("/usr/bin/script", [tmp_path])


def test_a_link_loop_in_the_packages_finds_nothing(tmp_path):
    (tmp_path / "usr/bin").mkdir(parents=True)
    os.symlink("loop", tmp_path / "usr/bin/loop")
    assert debroot.find(debroot.PurePosixPath("/usr/bin/loop"), [tmp_path]) is None


def test_a_linked_directory_does_not_lead_out_of_the_packages(tmp_path):
    """A package's directory link to an absolute path means the guest's path,
    never the host's: the host's /usr/bin/env is not found through it."""
    os.symlink("/usr", tmp_path / "usr")
    assert Path("/usr/bin/env").exists()
    assert debroot.find(debroot.PurePosixPath("/usr/bin/env"), [tmp_path]) is None
