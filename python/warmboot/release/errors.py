"""The exception types of warmboot.release, one per way a release can fail.

Each class carries the exit status `warmboot verify` (and the other release
commands) return for it, so a lab script can tell "tampered" from "too old"
without parsing messages. The statuses are part of the documented interface
(docs/releases.md, "Exit status").
"""

from __future__ import annotations

from ..errors import WarmbootError

# Exit statuses, by category; 1 is the top-level CLI's generic failure.
EXIT_INVALID = 1  # unreadable or malformed input, refused overwrite
EXIT_UNTRUSTED = 10  # signatures, thresholds, root chain
EXIT_EXPIRED = 11  # release or root past its expiry
EXIT_ROLLBACK = 12  # older than what this host already accepted
EXIT_WRONG_BOARD = 13  # signed for another board or flash size
EXIT_MISMATCH = 14  # files differ from what the signed payload records


class ReleaseError(WarmbootError):
    """Any failure of the release tools."""

    exit_code = EXIT_INVALID


# --- malformed or unusable input --------------------------------------------


class FmapError(ReleaseError):
    """The ROM's flash map is missing, ambiguous or inconsistent."""


class FmapNotFoundError(FmapError):
    """The ROM holds no valid FMAP (no "__FMAP__" signature with a sane header)."""


class EnvelopeFormatError(ReleaseError):
    """A signed envelope file is not a well-formed, canonical envelope."""


class PayloadFormatError(ReleaseError):
    """A signed payload does not follow the release or root payload schema."""


class KeyFileError(ReleaseError):
    """A key file cannot be read or holds an unsupported key."""


class KeyExistsError(ReleaseError):
    """Refused to overwrite an existing key file."""


class ReleaseExistsError(ReleaseError):
    """Refused to overwrite an existing release envelope."""


class ReleaseFileError(ReleaseError):
    """A file the release needs is missing, unreadable or too large."""


class StateFileError(ReleaseError):
    """The rollback state file is unreadable or malformed."""


class OptionError(ReleaseError):
    """A command-line option's value is not an integer, or outside its range."""


# --- trust ------------------------------------------------------------------


class TrustError(ReleaseError):
    """The signatures do not establish trust."""

    exit_code = EXIT_UNTRUSTED


class PayloadTypeError(TrustError):
    """An envelope of one kind (root, release) was offered as the other."""


class BadSignatureError(TrustError):
    """A signature by a key of the role does not verify: tampering or corruption."""


class ThresholdNotMetError(TrustError):
    """Fewer distinct keys of the role signed than its threshold requires."""


class SignedByUnknownKeysError(ThresholdNotMetError):
    """The threshold is not met and signatures by keys the root does not list were ignored."""


class RootRotationError(ThresholdNotMetError):
    """A new root is not signed by a threshold of the previous root's root keys."""


class SignerNotInRootError(TrustError):
    """A key asked to sign a release is not a release key of the root."""


class RootVersionError(TrustError):
    """A root in the chain does not carry the version its place requires."""


# --- time -------------------------------------------------------------------


class ExpiredError(ReleaseError):
    """Signed metadata is past its expiry."""

    exit_code = EXIT_EXPIRED


class ReleaseExpiredError(ExpiredError):
    """The release envelope's payload has expired."""


class RootExpiredError(ExpiredError):
    """The newest root in the chain has expired."""


# --- rollback ---------------------------------------------------------------


class RollbackError(ReleaseError):
    """The release or root is older than what this host already accepted."""

    exit_code = EXIT_ROLLBACK


class VersionRollbackError(RollbackError):
    """The release's version is lower than the highest accepted for its board."""


class SecurityVersionRollbackError(RollbackError):
    """The release's security_version is lower than the highest accepted for its board."""


class StaleRootError(RollbackError):
    """The root chain ends below the root version this host already trusts."""


# --- wrong target -----------------------------------------------------------


class WrongBoardError(ReleaseError):
    """The release is signed for another board (or flash size)."""

    exit_code = EXIT_WRONG_BOARD


# --- content ----------------------------------------------------------------


class MismatchError(ReleaseError):
    """A file differs from what the signed payload records."""

    exit_code = EXIT_MISMATCH


class ImageLengthMismatchError(MismatchError):
    """coreboot.rom's length differs from the signed length."""


class ImageHashMismatchError(MismatchError):
    """coreboot.rom's sha256 or sha512 differs from the signed digest."""


class FmapMismatchError(MismatchError):
    """The image's FMAP differs from the signed board layout."""


class RegionHashMismatchError(MismatchError):
    """An FMAP region's sha256 differs from the signed digest."""


class ManifestMismatchError(MismatchError):
    """manifest.json differs from the signed length or sha256."""
