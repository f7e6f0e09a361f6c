"""The tools' device-tree backend (aarch64 boards): firmware's hand-off read
from SYSFS/firmware/devicetree/base/chosen/warmboot,* (= /proc/device-tree)
before any coreboot table, and the arm cookie kept in firmware's reset
mailbox instead of CMOS. Run on the host against a fake OS whose tree and
memory image are files."""

from __future__ import annotations

from pathlib import Path

from machines import CMA_BASE, OS_ANCHOR, OS_ANCHOR_SIZE, cmos_cookie, read_at, running_os, write_at
from warmboot import pmt
from warmboot.pmt import EntryType, PmtFlags

MiB = 1 << 20
MAILBOX = OS_ANCHOR + OS_ANCHOR_SIZE + 0x1000  # in the fake's reserved CBMEM
MAGIC = b"WBRESET!"
DT_WINDOW = (0x20_0000, 2 * MiB)  # differs from the coreboot record's


def cells(*values: int) -> bytes:
    return b"".join(v.to_bytes(8, "big") for v in values)


def plant_tree(
    sysfs: Path,
    *,
    mailbox: bool = True,
    status: tuple[int, ...] | None = None,
    pmt_at: tuple[int, int] | None = None,
) -> None:
    base = sysfs / "firmware" / "devicetree" / "base"
    chosen = base / "chosen"
    chosen.mkdir(parents=True, exist_ok=True)
    (base / "#address-cells").write_bytes((2).to_bytes(4, "big"))
    (base / "#size-cells").write_bytes((2).to_bytes(4, "big"))
    (chosen / "warmboot,anchor").write_bytes(cells(OS_ANCHOR, OS_ANCHOR_SIZE))
    (chosen / "warmboot,boot-window").write_bytes(cells(*DT_WINDOW))
    if mailbox:
        (chosen / "warmboot,reset-mailbox").write_bytes(cells(MAILBOX, 16))
    if pmt_at:
        (chosen / "warmboot,pmt").write_bytes(cells(*pmt_at))
        (chosen / "warmboot,pmt-status").write_bytes(b"".join(v.to_bytes(4, "big") for v in status))


def mailbox(machine) -> tuple[bytes, int]:
    raw = read_at(machine.mem, MAILBOX, 16)
    return raw[:8], int.from_bytes(raw[8:], "little")


def test_arm_takes_the_anchor_and_window_from_the_device_tree_and_clears_the_mailbox(
    tools, tmp_path
):
    machine = running_os(tmp_path)
    plant_tree(machine.sysfs)
    write_at(machine.mem, MAILBOX, MAGIC + (0x1234).to_bytes(8, "little"))
    result = tools.run("pmtctl", *machine.args(), "arm", "--no-crash-stub")
    assert result.returncode == 0, result.stderr
    table = pmt.decode(machine.anchor(), pmt.PmtLimits(firmware_ranges=((0, MiB),)))
    (copy,) = [e for e in table.entries if e.type == EntryType.BOOT_COPY]
    assert (copy.base, copy.size, copy.dest) == (*DT_WINDOW, CMA_BASE)
    assert table.flags == PmtFlags.ARMED and table.arm_cookie != 0
    # Registration is the crash stub's job here: arming empties the mailbox, not CMOS.
    assert mailbox(machine) == (bytes(8), 0)
    assert cmos_cookie(machine.cmos) == 0


def test_write_raw_fills_the_mailbox_and_disarm_empties_it(tools, tmp_path):
    machine = running_os(tmp_path)
    plant_tree(machine.sysfs)
    assert tools.run("pmtctl", *machine.args(), "arm", "--no-crash-stub").returncode == 0
    raw = tmp_path / "table.bin"
    raw.write_bytes(machine.anchor()[:4096])
    cookie = pmt.decode(raw.read_bytes()).arm_cookie
    result = tools.run("pmtctl", *machine.args(), "write-raw", raw)
    assert result.returncode == 0, result.stderr
    assert "reset mailbox cookie" in result.stdout
    assert mailbox(machine) == (MAGIC, cookie)
    status = tools.run("pmtctl", *machine.args(), "status")
    assert status.returncode == 0, status.stderr
    assert status.stdout.startswith("firmware: device tree /chosen")
    assert f"reset mailbox cookie {cookie:#x} (matches the table)" in status.stdout
    assert tools.run("pmtctl", *machine.args(), "disarm").returncode == 0
    assert mailbox(machine) == (bytes(8), 0)


def test_status_reports_what_firmware_said_in_pmt_status(tools, tmp_path):
    machine = running_os(tmp_path)
    plant_tree(machine.sysfs)
    assert tools.run("pmtctl", *machine.args(), "arm", "--no-crash-stub").returncode == 0
    flags = PmtFlags.ARMED | PmtFlags.WARM_RESET_SEEN | PmtFlags.REJECTED
    plant_tree(
        machine.sysfs,
        pmt_at=(OS_ANCHOR, 0x400),
        status=(int(flags), pmt.RejectReason.BAD_CRC, pmt.ResetCause.WARM_RESET, 3),
    )
    result = tools.run("pmtctl", *machine.args(), "status")
    assert result.returncode == 0, result.stderr
    line = next(ln for ln in result.stdout.splitlines() if "this boot:" in ln)
    assert "REJECTED" in line and "reject BAD_CRC" in line and "entry 3" in line, line
    assert "generation 1" in line
