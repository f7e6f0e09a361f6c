"""The test OS keeps Debian's makedumpfile on its disk, as a distribution keeps
it on its root filesystem: its initramfs (read, checksummed by kexec and
unpacked on every boot before the OS is in service) holds only links to the
mounted disk. That makedumpfile runs is proven by the in-service capture
tests (tests/crashdump/test_q35_in_service_capture.py)."""

import subprocess
from pathlib import Path

from warmboot.steps.hostbin import OS_DISK_MOUNT, SYSROOT, with_libraries


def newc_entries(archive: bytes) -> dict[str, tuple[int, bytes]]:
    """name -> (mode, data) of a cpio "newc" archive."""
    entries, at = {}, 0
    while True:
        header = archive[at : at + 110]
        assert header[:6] == b"070701", f"not newc at {at}"
        mode = int(header[14:22], 16)
        size = int(header[54:62], 16)
        name_size = int(header[94:102], 16)
        name = archive[at + 110 : at + 110 + name_size - 1].decode()
        at = (at + 110 + name_size + 3) & ~3
        data = archive[at : at + size]
        at = (at + size + 3) & ~3
        if name == "TRAILER!!!":
            return entries
        entries["/" + name.lstrip("/")] = (mode, data)


def test_os_initramfs_links_makedumpfile_and_its_libraries_to_the_disk(q35_testos):
    archive = subprocess.run(
        ["lz4", "-dc", str(q35_testos.build / "testos-initramfs" / "initramfs.cpio.lz4")],
        capture_output=True,
        check=True,
    ).stdout
    entries = newc_entries(archive)
    programs = with_libraries("makedumpfile")
    assert len(programs) > 3  # the program, the loader, libc and its libraries
    for path, _ in programs:
        mode, target = entries[path]
        assert mode & 0o170000 == 0o120000, f"{path} is not a symbolic link"
        assert target.rstrip(b"\0").decode() == f"{OS_DISK_MOUNT}/{SYSROOT}{path}"
    assert "/bin/pmtctl" in entries and entries["/bin/pmtctl"][0] & 0o170000 == 0o100000


def test_os_disk_holds_the_hosts_makedumpfile_in_its_sysroot(q35_testos, tmp_path):
    disk = q35_testos.build / "testos" / "os.img"
    for path, host_file in with_libraries("makedumpfile"):
        out = tmp_path / Path(path).name
        subprocess.run(
            ["debugfs", "-R", f"dump -p /{SYSROOT}{path} {out}", str(disk)],
            capture_output=True,
            check=True,
        )
        assert out.read_bytes() == host_file.read_bytes(), path
        assert out.stat().st_mode & 0o777 == host_file.stat().st_mode & 0o777, path
