#!/usr/bin/env python3
"""atheris harness: the parsers `warmboot verify` runs on bytes from a mirror.

The first byte picks the parser; the rest is its input. Each parser may
refuse its input only with a ReleaseError (one error line on the CLI); any
other exception is a bug. Run with atheris (tests/fuzz/run release), or
replay a corpus without it: TestOneInput is plain Python.
"""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from atheris_harness import dispatch, fuzz

PARSERS: tuple = ()
ReleaseError: type = Exception


def load() -> None:
    """Import the parsers (under atheris: inside its instrumentation)."""
    global PARSERS, ReleaseError
    from warmboot.release import ReleaseError as error
    from warmboot.release.envelope import (
        RELEASE_PAYLOAD_TYPE,
        ROOT_PAYLOAD_TYPE,
        Envelope,
        decode_envelope,
        encode_envelope,
    )
    from warmboot.release.fmap import parse_fmap
    from warmboot.release.payload import decode_release_payload
    from warmboot.release.root import decode_root, load_trusted_root, update_root
    from warmboot.release.state import decode_state

    def wrapped(payload_type: str, payload: bytes) -> bytes:
        """payload in a canonical, unsigned envelope: past the envelope's checks."""
        return encode_envelope(Envelope(payload_type=payload_type, payload=payload, signatures=()))

    def update_from_itself(data: bytes) -> None:
        update_root(load_trusted_root(data), data)

    ReleaseError = error
    PARSERS = (
        decode_envelope,
        decode_release_payload,
        decode_root,
        decode_state,
        parse_fmap,
        lambda data: load_trusted_root(wrapped(ROOT_PAYLOAD_TYPE, data)),
        lambda data: decode_release_payload(
            decode_envelope(wrapped(RELEASE_PAYLOAD_TYPE, data)).payload
        ),
        update_from_itself,
    )


def TestOneInput(data: bytes) -> None:
    if not PARSERS:
        load()
    dispatch(PARSERS, ReleaseError, data)


if __name__ == "__main__":
    fuzz(load, TestOneInput)
