"""What the atheris harnesses share: one parser per first input byte, a set of
expected refusals, and the atheris entry point that instruments only
warmboot's own modules (instrumenting everything takes minutes per start)."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Sequence


def dispatch(
    parsers: Sequence[Callable[[bytes], object]], refusals: type[BaseException], data: bytes
) -> None:
    """Run the parser data[0] picks on data[1:]; only `refusals` may escape it quietly."""
    if not data:
        return
    with contextlib.suppress(refusals):
        parsers[data[0] % len(parsers)](data[1:])


def fuzz(load: Callable[[], None], test_one_input: Callable[[bytes], None]) -> None:
    import atheris

    with atheris.instrument_imports(include=["warmboot"]):
        load()
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()
