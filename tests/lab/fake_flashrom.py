"""A flashrom that misbehaves on purpose, for fault injection in the lab tests.

The lab config names it as the flashrom command:

    command = [PYTHON, "fake_flashrom.py", MODE, CHIP_FILE, STATE_DIR]

and warmboot-lab appends flashrom's own arguments. Everything not touched by
MODE is passed to the real flashrom (the dummy programmer on CHIP_FILE), with
the same standard input, so probes, reads, writes and verifies stay real.
STATE_DIR counts the writes (`writes`) and reads (`reads`) and holds
`writing` (`reading`) while a slow write (read) is in progress, so a test
knows when to signal.

Modes (a mode may end in "+close-fds": first close every inherited descriptor
above stderr, as sudo does):
  fail-first-write     the first write erases 4 MiB of the chip (FMAP, CBFS), then
                       fails: a half-written chip
  fail-every-write     every write does that: the rollback cannot restore the chip
  lie-on-first-write   the first write flips a byte of the image, writes it, and
                       reports success
  slow-first-write     the first write waits 3 s before it starts (time to send a signal)
  slow-first-write-after-input
                       the first write reads all of its input, creates `writing` (holding
                       its pid), waits 3 s and then writes: it can outlive warmboot-lab
  crash-in-first-write the first write erases 4 MiB of the chip, creates `writing` (holding
                       its pid) and never ends: what a host crash mid-write leaves
  hang-on-first-write  the first write never ends (a programmer that stopped answering)
  slow-reads           every read waits 3 s before it starts
  short-reads          every read's file is cut to half the chip (a read cut short)
  unstable-reads       the second read returns contents with one byte changed
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

# The qemu-q35 image's FMAP and COREBOOT region (its CBFS) start at 8 MiB.
ERASED_OFFSET = 8 << 20
ERASED_LENGTH = 4 << 20
LIE_OFFSET = (8 << 20) + (1 << 20)  # inside fallback/payload


def count(state: Path, what: str) -> int:
    """Increment and return STATE/what (1 for the first call)."""
    path = state / what
    number = int(path.read_text()) + 1 if path.exists() else 1
    path.write_text(str(number))
    return number


def publish_pid(marker: Path) -> None:
    """Create marker holding this process's pid, whole: a test polls for the file
    and reads it at once, so it must never see it empty (write, then rename)."""
    partial = marker.with_name(marker.name + ".partial")
    partial.write_text(str(os.getpid()))
    partial.rename(marker)


def half_write(chip: Path) -> int:
    """What a write cut off by a programmer failure leaves: erased blocks, then an error."""
    sys.stdin.buffer.read()
    with open(chip, "r+b") as handle:
        handle.seek(ERASED_OFFSET)
        handle.write(b"\xff" * ERASED_LENGTH)
    print(f"Erasing and writing flash chip... FAILED at {ERASED_OFFSET:#010x}!")
    print("Your flash chip is in an unknown state.")
    return 1


def real_flashrom(args: list[str], stdin: bytes | None = None) -> int:
    return subprocess.run(
        ["flashrom", *args], input=stdin, stdin=None if stdin is not None else sys.stdin
    ).returncode


def main() -> int:
    mode, chip, state = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3])
    if mode.endswith("+close-fds"):
        mode = mode[: -len("+close-fds")]
        os.closerange(3, 65536)
    args = sys.argv[4:]
    state.mkdir(parents=True, exist_ok=True)
    if "-w" in args:
        writes = count(state, "writes")
        if mode == "fail-every-write" or (mode == "fail-first-write" and writes == 1):
            return half_write(chip)
        if mode == "lie-on-first-write" and writes == 1:
            image = bytearray(sys.stdin.buffer.read())
            image[LIE_OFFSET] ^= 0xFF
            real_flashrom(args, bytes(image))
            return 0  # whatever flashrom said, claim success
        if mode == "hang-on-first-write" and writes == 1:
            while True:
                time.sleep(60)
        if mode == "slow-first-write-after-input" and writes == 1:
            image = sys.stdin.buffer.read()
            publish_pid(state / "writing")
            time.sleep(3)
            status = real_flashrom(args, image)
            (state / "writing").unlink()
            return status
        if mode == "crash-in-first-write" and writes == 1:
            half_write(chip)
            publish_pid(state / "writing")
            while True:
                time.sleep(60)
        if mode == "slow-first-write" and writes == 1:
            (state / "writing").touch()
            time.sleep(3)
            status = real_flashrom(args)
            (state / "writing").unlink()
            return status
    if "-r" in args:
        reads = count(state, "reads")
        if mode == "slow-reads":
            (state / "reading").touch()
            time.sleep(3)
        status = real_flashrom(args)
        if mode == "short-reads" and status == 0:
            out = Path(args[args.index("-r") + 1])
            out.write_bytes(out.read_bytes()[:ERASED_OFFSET])
        if mode == "unstable-reads" and reads == 2 and status == 0:
            out = Path(args[args.index("-r") + 1])
            data = bytearray(out.read_bytes())
            data[0x1234] ^= 0x01
            out.write_bytes(bytes(data))
        return status
    return real_flashrom(args)


if __name__ == "__main__":
    sys.exit(main())
