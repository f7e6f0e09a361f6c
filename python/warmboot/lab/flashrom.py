"""flashrom, as the lab uses it: probe, read, write from memory, verify.

Images are written and verified from memory through flashrom's standard
input (`-w -`, `-v -`), so what reaches the chip is exactly the bytes the
release verifier returned, never a file that could have changed since.

The probe is parsed from flashrom's own lines (flashrom 1.3):

    Found Winbond flash chip "W25Q128.V" (16384 kB, SPI) on dummy.
    Found Macronix flash chip "MX25L6405" (8192 kB, SPI) on ch341a_spi.
    Found Macronix flash chip "MX25L6405D" (8192 kB, SPI) on ch341a_spi.
    Multiple flash chip definitions match the detected chip(s): …

One chip can match several definitions; flashrom then exits 1 and asks for
`-c`. So the probe runs without `-c`, the expected name must be among the
definitions found, and every later run names it with `-c`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ..fsutil import PathError, read_capped_nofollow
from .commands import CommandRun, CommandRunner, last_line
from .config import FlashromSettings
from .errors import BoardIdentityError, FlashromError, FlashVerifyError
from .lock import PlaceLock

# "Assuming" is what flashrom prints instead of "Found" for a forced chip (-f -c).
FOUND_CHIP = re.compile(
    r'^(?:Found|Assuming) (?P<vendor>.+?) flash chip "(?P<name>[^"]+)" '
    r"\((?P<kib>\d+) kB, (?P<bus>[^)]*)\)",
    re.MULTILINE,
)
# The line of flashrom's output that says what went wrong, e.g.
# "Erasing and writing flash chip... FAILED at 0x00001000! Expected=0xff, Found=0x00, …"
TELLING_LINE = re.compile(
    r"^.*(?:FAILED|\berror\b|No EEPROM/flash device found).*$", re.MULTILINE | re.IGNORECASE
)


@dataclass(frozen=True)
class ProbedChip:
    vendor: str
    name: str
    size: int  # bytes
    bus: str

    def describe(self) -> str:
        return f'{self.vendor} "{self.name}" ({format_size(self.size)})'

    def as_record(self) -> dict:
        return {"vendor": self.vendor, "name": self.name, "size": self.size, "bus": self.bus}


def format_size(size: int) -> str:
    for unit, scale in (("MiB", 1 << 20), ("KiB", 1 << 10)):
        if size >= scale and size % scale == 0:
            return f"{size // scale} {unit}"
    return f"{size} bytes"


def parse_probe_output(text: str) -> tuple[ProbedChip, ...]:
    """Every chip definition flashrom's probe reported, in its order."""
    return tuple(
        ProbedChip(m["vendor"], m["name"], int(m["kib"]) * 1024, m["bus"].strip())
        for m in FOUND_CHIP.finditer(text)
    )


def select_chip(found: Sequence[ProbedChip], expected_name: str, expected_size: int) -> ProbedChip:
    """The probed definition named `expected_name`, if its size is `expected_size`."""
    expected = f'"{expected_name}" ({format_size(expected_size)})'
    if not found:
        raise BoardIdentityError(
            f"flashrom found no flash chip, expected {expected}; "
            "check the programmer, its wiring and the board's power"
        )
    named = [chip for chip in found if chip.name == expected_name]
    if not named:
        seen = ", ".join(chip.describe() for chip in found)
        raise BoardIdentityError(
            f"the probe found {seen}, not the expected {expected}: "
            "this is not the board the place describes"
        )
    chip = named[0]
    if chip.size != expected_size:
        raise BoardIdentityError(f"the probed {chip.describe()} is not {expected}")
    return chip


def layout_arguments(settings: FlashromSettings) -> list[str]:
    """--ifd/--fmap and -i REGION…, for writing only some regions."""
    if settings.layout == "full":
        return []
    arguments = [f"--{settings.layout}"]
    for region in settings.regions:
        arguments += ["-i", region]
    return arguments


class Flashrom:
    """flashrom runs for one place; each run is logged and recorded by the runner.

    With the place's `lock`, every flashrom inherits its descriptor and is
    named in it while it runs, so the lock outlives none of them (lock.py).
    """

    def __init__(
        self,
        settings: FlashromSettings,
        runner: CommandRunner,
        place: str,
        lock: PlaceLock | None = None,
    ):
        self.settings = settings
        self.runner = runner
        self.place = place
        self.lock = lock

    def _run(self, label: str, argv: list[str], stdin: bytes | None = None) -> CommandRun:
        if self.lock is None:
            return self.runner.run(label, argv, self.settings.timeout, stdin=stdin)
        run = self.runner.run(
            label,
            argv,
            self.settings.timeout,
            stdin=stdin,
            pass_fds=(self.lock.fd,),
            on_start=self.lock.note_child,
        )
        if run.pid is not None:
            self.lock.child_ended(run.pid)
        return run

    def argv(self, *operation: str, name_chip: bool = True) -> list[str]:
        chip = ["-c", self.settings.chip] if name_chip else []
        return [
            *self.settings.command,
            "-p",
            self.settings.programmer,
            *chip,
            *self.settings.extra_args,
            *operation,
        ]

    def _failed(self, what: str, run: CommandRun) -> FlashromError:
        return FlashromError(
            f"place {self.place}: flashrom {what} failed: "
            f"{run.describe_failure('flashrom', TELLING_LINE)} (log {run.log})"
        )

    def probe(self, label: str = "probe") -> tuple[ProbedChip, ...]:
        run = self._run(label, self.argv(name_chip=False))
        chips = parse_probe_output(run.output())
        # Several matching definitions make flashrom exit 1; that is still an answer.
        if (
            not chips
            and not run.ok
            and (
                run.start_error
                or run.timed_out
                or "No EEPROM/flash device found" not in run.output()
            )
        ):
            raise self._failed("probe", run)
        return chips

    def read(self, destination: Path, label: str) -> bytes:
        run = self._run(label, self.argv("-r", str(destination)))
        if not run.ok:
            raise self._failed("read", run)
        try:
            return read_capped_nofollow(destination, self.settings.size)
        except PathError as exc:
            raise FlashromError(
                f"place {self.place}: flashrom read left no readable file: {exc}"
            ) from None

    def write(self, image: bytes, label: str, *, whole_chip: bool = False) -> None:
        layout = [] if whole_chip else layout_arguments(self.settings)
        run = self._run(label, self.argv("-w", "-", *layout), stdin=image)
        if not run.ok:
            raise self._failed("write", run)

    def verify(self, image: bytes, label: str, *, whole_chip: bool = False) -> None:
        layout = [] if whole_chip else layout_arguments(self.settings)
        run = self._run(label, self.argv("-v", "-", *layout), stdin=image)
        if run.ok:
            return
        if run.exit_code is not None and not run.start_error:
            found = TELLING_LINE.search(run.output())
            reason = found.group(0).strip() if found else last_line(run.output())
            raise FlashVerifyError(
                f"place {self.place}: the flash does not hold the image: {reason} (log {run.log})"
            )
        raise self._failed("verify", run)
