"""Dump tools on a vmcore of a real kernel crash (makedumpfile, crash).

A synthetic VMCOREINFO cannot satisfy them honestly: makedumpfile -d 31
walks the kernel's mem_section and struct page arrays in the dump, and
crash reads kernel data through vmlinux's symbols. The real_kernel_vmcore
fixture boots the qemu-q35 LinuxBoot kernel and captures its memory through
a PMT; crash(8) is exercised by the crash-dump end-to-end tests, which have a
vmlinux with debug info.
"""

from __future__ import annotations

import subprocess

import pytest

pytestmark = pytest.mark.qemu

KDUMP_SIGNATURE = b"KDUMP   "


def test_makedumpfile_filters_and_compresses_a_real_vmcore(real_kernel_vmcore, tmp_path):
    out = tmp_path / "dumpfile"
    result = subprocess.run(
        ["makedumpfile", "-d", "31", "-l", str(real_kernel_vmcore.vmcore), str(out)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert out.read_bytes()[:8] == KDUMP_SIGNATURE


def test_makedumpfile_reads_the_kernel_log_from_a_real_vmcore(real_kernel_vmcore, tmp_path):
    log = tmp_path / "dmesg"
    result = subprocess.run(
        ["makedumpfile", "--dump-dmesg", str(real_kernel_vmcore.vmcore), str(log)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    text = log.read_text(errors="replace")
    assert f"Linux version {real_kernel_vmcore.osrelease}" in text
    assert real_kernel_vmcore.kmsg_marker in text  # written by the test into /dev/kmsg


def test_inspector_reports_the_real_kernels_release_and_page_size(real_kernel_vmcore):
    from warmboot.vmcore.reader import read_vmcore

    info = read_vmcore(real_kernel_vmcore.vmcore)
    assert info.vmcoreinfo["OSRELEASE"] == real_kernel_vmcore.osrelease
    assert info.vmcoreinfo["PAGESIZE"] == "4096"
    assert "KERNELOFFSET" in info.vmcoreinfo
