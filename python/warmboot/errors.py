"""The root of warmboot's exception types.

Every module raises its own subclass, so callers can catch one module's
failures precisely, and the CLI can turn any of them into a one-line error.
"""


class WarmbootError(Exception):
    """A failure the user can act on; its message names the problem."""


def one_line(text: object) -> str:
    """An error or message as the single line the CLI and the records print."""
    line = " ".join(str(text).split())
    return line or (type(text).__name__ if isinstance(text, BaseException) else "")
