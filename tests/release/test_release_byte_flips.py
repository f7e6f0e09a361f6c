"""Any single-byte change to release.json or coreboot.rom is rejected.

release.json is checked at every byte (with a random non-zero XOR mask per
position); the ROM at a few hundred sampled positions plus every byte of its
FMAP, where a change could move the regions. The release is signed by
exactly the threshold of keys, so no signature is spare.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable, Iterator

from warmboot.release import errors
from warmboot.release.layout import RELEASE_ENVELOPE_FILE, ROM_FILE

# What a changed envelope may fail with; anything else (or success) is a bug.
ENVELOPE_REJECTIONS = (
    errors.EnvelopeFormatError,
    errors.BadSignatureError,
    errors.ThresholdNotMetError,
    errors.PayloadTypeError,
)


def rejections(
    lab, file_name: str, choose_offsets: Callable[[int, random.Random], list[int]], seed: int
) -> Iterator[tuple[int, errors.ReleaseError]]:
    """(offset, error) for each one-byte change of `file_name` in a genuine release."""
    release_dir = lab.release()
    trusted = lab.trusted_root()
    path = release_dir / file_name
    original = path.read_bytes()
    rng = random.Random(seed)
    for offset in choose_offsets(len(original), rng):
        mask = rng.randrange(1, 256)
        changed = bytearray(original)
        changed[offset] ^= mask
        path.write_bytes(bytes(changed))
        try:
            lab.verify(release_dir, trusted)
        except errors.ReleaseError as exc:
            yield offset, exc
            continue
        raise AssertionError(f"changing byte {offset} of {file_name} ({mask:#04x}) was accepted")
    path.write_bytes(original)
    lab.verify(release_dir, trusted)  # restored, it verifies again


def test_every_single_byte_change_in_release_json_is_rejected(lab):
    seen = Counter()
    for offset, exc in rejections(
        lab, RELEASE_ENVELOPE_FILE, lambda length, rng: list(range(length)), seed=20240601
    ):
        assert isinstance(exc, ENVELOPE_REJECTIONS), (offset, exc)
        seen[type(exc).__name__] += 1
    # The changes reached both the strict parser and the signature check.
    assert {"EnvelopeFormatError", "BadSignatureError"} <= set(seen)


def test_sampled_single_byte_changes_in_the_rom_are_rejected(lab):
    def sample(length: int, rng: random.Random) -> list[int]:
        fmap = length // 2  # where the synthetic ROM keeps its FMAP (3 areas)
        return sorted(set(rng.sample(range(length), 300)) | set(range(fmap, fmap + 56 + 3 * 42)))

    for offset, exc in rejections(lab, ROM_FILE, sample, seed=7):
        assert isinstance(exc, errors.ImageHashMismatchError), (offset, exc)
