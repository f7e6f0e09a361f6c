"""The root of warmboot's exception types.

Every module raises its own subclass, so callers can catch one module's
failures precisely, and the CLI can turn any of them into a one-line error.
"""


class WarmbootError(Exception):
    """A failure the user can act on; its message names the problem."""
