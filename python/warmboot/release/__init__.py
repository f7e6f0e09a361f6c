"""Signed firmware releases: format, signing, verification, rollback state.

The format is specified in docs/releases.md. The entry points:

- build side (SCons `release` step): `create_release`, `release_directory`,
  `load_signer`, `release_root_cbfs_file` (bytes to embed in CBFS);
- lab side (flashing tool): `verify_release` -> `VerifiedRelease`;
- key and root management: `write_key_pair`, `build_root`,
  `unsigned_root_envelope`, `add_signatures`, `load_trusted_root`, `update_root`.

Every failure is a `ReleaseError` subclass (see `errors`).
"""

from .create import CreatedRelease, create_release, load_root_chain, release_directory, sign_release
from .embed import (
    RELEASE_ROOT_CBFS_NAME,
    RELEASE_ROOT_CBFS_REGION,
    RELEASE_ROOT_CBFS_TYPE,
    cbfstool_add_release_root_argv,
    release_root_cbfs_file,
)
from .envelope import (
    RELEASE_PAYLOAD_TYPE,
    ROOT_PAYLOAD_TYPE,
    Envelope,
    Role,
    Signature,
    add_signatures,
    decode_envelope,
    encode_envelope,
    pae,
)
from .errors import ReleaseError
from .fmap import Fmap, FmapArea, encode_fmap, parse_fmap
from .keys import (
    ALGORITHMS,
    ECDSA_P256,
    ED25519,
    FileSigner,
    PublicKey,
    Signer,
    key_id_of,
    load_public_key,
    load_signer,
    write_key_pair,
)
from .layout import MANIFEST_FILE, RELEASE_ENVELOPE_FILE, ROM_FILE, ROOTS_DIRECTORY
from .payload import BoardIdentity, ReleasePayload, ReleaseVersion, decode_release_payload
from .root import (
    RootMetadata,
    SignedRoot,
    build_root,
    load_root_file,
    load_trusted_root,
    unsigned_root_envelope,
    update_root,
)
from .state import RollbackState, load_state
from .verify import VerifiedRelease, verify_release

__all__ = [
    "ALGORITHMS",
    "ECDSA_P256",
    "ED25519",
    "MANIFEST_FILE",
    "RELEASE_ENVELOPE_FILE",
    "RELEASE_PAYLOAD_TYPE",
    "RELEASE_ROOT_CBFS_NAME",
    "RELEASE_ROOT_CBFS_REGION",
    "RELEASE_ROOT_CBFS_TYPE",
    "ROM_FILE",
    "ROOTS_DIRECTORY",
    "ROOT_PAYLOAD_TYPE",
    "BoardIdentity",
    "CreatedRelease",
    "Envelope",
    "FileSigner",
    "Fmap",
    "FmapArea",
    "PublicKey",
    "ReleaseError",
    "ReleasePayload",
    "ReleaseVersion",
    "Role",
    "RollbackState",
    "RootMetadata",
    "Signature",
    "SignedRoot",
    "Signer",
    "VerifiedRelease",
    "add_signatures",
    "build_root",
    "cbfstool_add_release_root_argv",
    "create_release",
    "decode_envelope",
    "decode_release_payload",
    "encode_envelope",
    "encode_fmap",
    "key_id_of",
    "load_public_key",
    "load_root_chain",
    "load_root_file",
    "load_signer",
    "load_state",
    "load_trusted_root",
    "pae",
    "parse_fmap",
    "release_directory",
    "release_root_cbfs_file",
    "sign_release",
    "unsigned_root_envelope",
    "update_root",
    "verify_release",
    "write_key_pair",
]
