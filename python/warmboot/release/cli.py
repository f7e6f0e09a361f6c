"""`warmboot keys|root|release|verify`: the command-line face of warmboot.release.

Each handler returns an exit status. Failures are ReleaseError subclasses;
they are printed as one line and mapped to the status of their category
(errors.EXIT_*), so a lab script can tell a tampered release (10, 14) from an
expired (11), rolled-back (12) or wrong-board (13) one.
"""

from __future__ import annotations

import argparse
import functools
import logging
import re
import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from .create import CreatedRelease, create_release, load_root_chain, release_directory, sign_release
from .encoding import MAX_UINT64, format_timestamp, parse_timestamp, strict_integer
from .envelope import (
    RELEASE_PAYLOAD_TYPE,
    ROOT_PAYLOAD_TYPE,
    add_signatures,
    encode_envelope,
    pae,
    read_envelope_file,
)
from .errors import EXIT_INVALID, OptionError, PayloadFormatError, ReleaseError
from .files import write_atomic, write_new
from .keys import ALGORITHMS, ED25519, load_public_key, load_signer, write_key_pair
from .layout import MAX_IMAGE_BYTES, RELEASE_ENVELOPE_FILE
from .payload import MAX_SECURITY_VERSION, decode_release_payload
from .root import build_root, decode_root, root_expiry_error, unsigned_root_envelope
from .verify import verify_release

Handler = Callable[[argparse.Namespace], int]
# 100 years; beyond some million days the date leaves the calendar (OverflowError).
MAX_EXPIRY_DAYS = 36500
_DECIMAL_RE = re.compile(r"-?[0-9]+")  # ASCII only: int() would also take "1_0", " 1", "\u0663"


def _reporting_exit_codes(handler: Handler) -> Handler:
    @functools.wraps(handler)
    def run(args: argparse.Namespace) -> int:
        try:
            return handler(args)
        except ReleaseError as exc:
            print(f"warmboot: error: {exc}", file=sys.stderr)
            return exc.exit_code
        except OSError as exc:  # e.g. an unwritable output directory: still one line
            print(f"warmboot: error: {exc}", file=sys.stderr)
            return EXIT_INVALID

    return run


def _warnings_to_stderr() -> None:
    """Show the library's override warnings as 'warmboot: warning: ...' lines."""
    logger = logging.getLogger("warmboot.release")
    if not any(getattr(h, "_warmboot_cli", False) for h in logger.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("warmboot: warning: %(message)s"))
        handler.setLevel(logging.WARNING)
        handler._warmboot_cli = True  # type: ignore[attr-defined]  # marks ours: added once
        logger.addHandler(handler)
        logger.propagate = False


def integer_option(text: str, option: str, minimum: int, maximum: int) -> int:
    """The value of a numeric option, checked like every integer of a signed document.

    Options are parsed here rather than by argparse's type=int, so a bad value
    is one `warmboot: error:` line naming the option, before anything is written.
    """
    if not _DECIMAL_RE.fullmatch(text):
        raise OptionError(f"{option} must be a decimal integer, not {text!r}")
    if len(text.lstrip("-")) > 40:  # int() refuses 4300+ digits; no range needs 40
        raise OptionError(
            f"{option} must be between {minimum} and {maximum}, "
            f"not a {len(text.lstrip('-'))}-digit number"
        )
    try:
        return strict_integer(int(text), minimum, maximum)
    except ValueError as exc:
        raise OptionError(f"{option} {exc}") from None


def _expires(args: argparse.Namespace) -> datetime:
    if args.expires:
        try:
            return parse_timestamp(args.expires)
        except ValueError as exc:
            raise PayloadFormatError(f"--expires: {exc}") from None
    days = integer_option(args.expires_in_days, "--expires-in-days", 1, MAX_EXPIRY_DAYS)
    return (datetime.now(UTC) + timedelta(days=days)).replace(microsecond=0)


def _add_expiry_options(parser: argparse.ArgumentParser, default_days: int) -> None:
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--expires", metavar="YYYY-MM-DDTHH:MM:SSZ", help="expiry time (UTC)")
    group.add_argument(
        "--expires-in-days",
        default=str(default_days),
        metavar="DAYS",
        help=f"expiry as days from now, 1 to {MAX_EXPIRY_DAYS} (default {default_days})",
    )


# --- keys -------------------------------------------------------------------


def _keys_generate(args: argparse.Namespace) -> int:
    pair = write_key_pair(Path(args.prefix), args.algorithm)
    print(f"private key: {pair.private_path} (mode 0600; keep it off the repository)")
    print(f"public key:  {pair.public_path}")
    print(f"key id:      {pair.key_id} ({pair.algorithm})")
    return 0


def _keys_show(args: argparse.Namespace) -> int:
    key = load_public_key(Path(args.file))
    print(f"{key.key_id} {key.algorithm}")
    return 0


# --- root -------------------------------------------------------------------


def _root_create(args: argparse.Namespace) -> int:
    root_keys = [load_public_key(Path(p)) for p in args.root_key]
    release_keys = [load_public_key(Path(p)) for p in args.release_key]
    metadata = build_root(
        version=integer_option(args.version, "--version", 1, MAX_UINT64),
        expires=_expires(args),
        root_keys=root_keys,
        root_threshold=integer_option(args.root_threshold, "--root-threshold", 1, len(root_keys)),
        release_keys=release_keys,
        release_threshold=integer_option(
            args.release_threshold, "--release-threshold", 1, len(release_keys)
        ),
    )
    try:
        write_new(Path(args.out), encode_envelope(unsigned_root_envelope(metadata)))
    except FileExistsError:
        raise ReleaseError(f"{args.out} already exists; refusing to overwrite it") from None
    print(
        f"wrote unsigned root version {metadata.version} to {args.out}; sign it with "
        f"`warmboot root sign` using {metadata.root.threshold} root key(s) "
        + ("of this root" if metadata.version == 1 else "of this root and of the previous one")
    )
    return 0


def _root_sign(args: argparse.Namespace) -> int:
    path = Path(args.root)
    envelope = read_envelope_file(path, ROOT_PAYLOAD_TYPE)
    decode_root(envelope.payload, str(path))  # sign only what parses as a root
    signed = add_signatures(envelope, [load_signer(Path(k)) for k in args.key])
    write_atomic(path, encode_envelope(signed))
    print(f"{path}: {len(signed.signatures)} signature(s)")
    return 0


def _root_verify(args: argparse.Namespace) -> int:
    root = load_root_chain([Path(args.trusted), *(Path(p) for p in args.roots)])[-1]
    expired = root_expiry_error(root, datetime.now(UTC))
    if expired is not None:
        raise expired
    print(f"root version {root.version} is trusted; fingerprint {root.fingerprint}")
    return 0


def _root_show(args: argparse.Namespace) -> int:
    path = Path(args.root)
    envelope = read_envelope_file(path, ROOT_PAYLOAD_TYPE)
    metadata = decode_root(envelope.payload, str(path))
    message = pae(envelope.payload_type, envelope.payload)
    print(f"root version {metadata.version}, expires {format_timestamp(metadata.expires)}")
    for role in (metadata.root, metadata.release):
        print(f"  {role.name} role: {role.threshold} of {len(role.key_ids)}")
        for key_id in role.key_ids:
            print(f"    {key_id} {metadata.keys[key_id].algorithm}")
    print("  signatures (checked against this root's own keys only):")
    for signature in envelope.signatures:
        key = metadata.keys.get(signature.key_id)
        status = (
            "unknown key"
            if key is None
            else "valid"
            if key.verify(signature.sig, message)
            else "INVALID"
        )
        print(f"    {signature.key_id} {status}")
    return 0


# --- release ----------------------------------------------------------------


def _release_create(args: argparse.Namespace) -> int:
    out = (
        Path(args.out) if args.out else release_directory(Path(args.dist), args.board, args.version)
    )
    security_version = integer_option(
        args.security_version, "--security-version", 0, MAX_SECURITY_VERSION
    )
    created = create_release(
        out,
        rom=Path(args.rom),
        manifest=Path(args.manifest),
        board=args.board,
        version=args.version,
        security_version=security_version,
        expires=_expires(args),
        signers=[load_signer(Path(k)) for k in args.key],
        root_chain=[Path(r) for r in args.root],
    )
    print(
        f"wrote {created.envelope_path} ({created.payload.board.name} "
        f"{created.payload.version}, security_version {created.payload.security_version}, "
        f"expires {format_timestamp(created.payload.expires)})"
    )
    _report_threshold(created)
    return 0


def _release_sign(args: argparse.Namespace) -> int:
    created = sign_release(
        Path(args.release_dir),
        [load_signer(Path(k)) for k in args.key],
        root_chain=[Path(r) for r in args.root],
    )
    print(f"{created.envelope_path}: {len(created.signed_by)} signature(s)")
    _report_threshold(created)
    return 0


def _report_threshold(created: CreatedRelease) -> None:
    if created.root is None:
        return
    release = created.root.metadata.release
    if created.threshold_met:
        print(
            f"meets root version {created.root.version}'s release threshold "
            f"({release.threshold} of {len(release.key_ids)})"
        )
    else:
        print(
            f"needs {release.threshold} release signatures under root version "
            f"{created.root.version}; co-sign with `warmboot release sign "
            f"{created.release_dir} --key KEY`"
        )


def _release_show(args: argparse.Namespace) -> int:
    path = Path(args.release_dir) / RELEASE_ENVELOPE_FILE
    envelope = read_envelope_file(path, RELEASE_PAYLOAD_TYPE)
    payload = decode_release_payload(envelope.payload, str(path))
    print(
        f"NOT VERIFIED (use `warmboot verify`): {payload.board.name} {payload.version}, "
        f"security_version {payload.security_version}, "
        f"expires {format_timestamp(payload.expires)}"
    )
    print(f"  image: {payload.image.length} bytes, sha256 {payload.image.sha256}")
    for area in payload.board.fmap.areas:
        print(
            f"    {area.name:<24} {area.offset:#010x} {area.size:#010x} "
            f"{payload.image.region_sha256[area.name]}"
        )
    print(f"  manifest: {payload.manifest.length} bytes, sha256 {payload.manifest.sha256}")
    for signature in envelope.signatures:
        print(f"  signature by {signature.key_id}")
    return 0


# --- verify -----------------------------------------------------------------


def _verify(args: argparse.Namespace) -> int:
    _warnings_to_stderr()
    flash_size = (
        None
        if args.flash_size is None
        else integer_option(args.flash_size, "--flash-size", 1, MAX_IMAGE_BYTES)
    )
    result = verify_release(
        Path(args.release_dir),
        Path(args.root),
        board=args.board,
        state_file=args.state,
        commit_state=args.commit_state,
        allow_expired=args.allow_expired,
        allow_version_downgrade=args.allow_version_downgrade,
        flash_size=flash_size,
    )
    payload = result.payload
    print(
        f"OK {payload.board.name} {payload.version} (security_version "
        f"{payload.security_version}), expires {format_timestamp(payload.expires)}"
    )
    print(f"  image sha256 {payload.image.sha256}")
    print(
        f"  signed by {len(result.signed_by)} release key(s) of root version "
        f"{result.root_version} (fingerprint {result.root_fingerprint}): "
        + ", ".join(result.signed_by)
    )
    if result.ignored_key_ids:
        print("  ignored signatures by unknown keys: " + ", ".join(result.ignored_key_ids))
    if args.state:
        done = "committed to" if result.state_committed else "checked, not committed:"
        print(f"  rollback state {done} {args.state}")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    def command(parent, name: str, handler: Handler, help_text: str) -> argparse.ArgumentParser:
        parser = parent.add_parser(name, help=help_text, description=help_text)
        parser.set_defaults(func=_reporting_exit_codes(handler))
        return parser

    def group(name: str, help_text: str):
        parser = subparsers.add_parser(name, help=help_text, description=help_text)
        return parser.add_subparsers(dest=f"{name}_command", metavar="COMMAND", required=True)

    keys = group("keys", "create and inspect signing keys")
    p = command(
        keys,
        "generate",
        _keys_generate,
        "create PREFIX.key (private, 0600) and PREFIX.pub; never overwrites",
    )
    p.add_argument("prefix", metavar="PREFIX")
    p.add_argument("--algorithm", choices=ALGORITHMS, default=ED25519)
    p = command(keys, "show", _keys_show, "print the key id and algorithm of a key file")
    p.add_argument("file", metavar="KEYFILE")

    root = group("root", "create, sign and check root metadata (the trust root)")
    p = command(root, "create", _root_create, "write a new, unsigned root envelope")
    p.add_argument("--out", required=True, metavar="ROOT.json")
    p.add_argument("--version", default="1", metavar="N", help="1, or previous root's version + 1")
    p.add_argument("--root-key", action="append", required=True, metavar="PUBKEY")
    p.add_argument(
        "--root-threshold", required=True, metavar="K", help="1 to the number of --root-key"
    )
    p.add_argument("--release-key", action="append", required=True, metavar="PUBKEY")
    p.add_argument(
        "--release-threshold", required=True, metavar="K", help="1 to the number of --release-key"
    )
    _add_expiry_options(p, default_days=365)
    p = command(root, "sign", _root_sign, "add signatures to a root envelope")
    p.add_argument("root", metavar="ROOT.json")
    p.add_argument("--key", action="append", required=True, metavar="PRIVKEY")
    p = command(
        root,
        "verify",
        _root_verify,
        "walk a root chain from a trusted root; the newest must be unexpired",
    )
    p.add_argument("--trusted", required=True, metavar="ROOT.json")
    p.add_argument(
        "roots", nargs="*", metavar="NEWER_ROOT.json", help="roots version N+1, N+2, ... in order"
    )
    p = command(root, "show", _root_show, "print a root envelope's contents")
    p.add_argument("root", metavar="ROOT.json")

    release = group("release", "create, co-sign and inspect signed releases")
    p = command(
        release,
        "create",
        _release_create,
        "write dist/<board>/<version>/ with coreboot.rom, manifest.json, release.json",
    )
    p.add_argument("--board", required=True)
    p.add_argument("--version", required=True, metavar="MAJOR.MINOR.PATCH")
    p.add_argument(
        "--security-version", required=True, metavar="N", help=f"0 to {MAX_SECURITY_VERSION}"
    )
    p.add_argument("--rom", required=True, metavar="coreboot.rom")
    p.add_argument("--manifest", required=True, metavar="manifest.json")
    p.add_argument("--key", action="append", required=True, metavar="PRIVKEY")
    p.add_argument(
        "--root",
        action="append",
        default=[],
        metavar="ROOT.json",
        help="root chain, oldest first (copied to roots/; signers are checked)",
    )
    where = p.add_mutually_exclusive_group(required=True)
    where.add_argument("--out", metavar="DIR", help="the release directory")
    where.add_argument("--dist", metavar="DIST", help="write to DIST/<board>/<version>/")
    _add_expiry_options(p, default_days=365)
    p = command(release, "sign", _release_sign, "co-sign an existing release")
    p.add_argument("release_dir", metavar="RELEASE_DIR")
    p.add_argument("--key", action="append", required=True, metavar="PRIVKEY")
    p.add_argument("--root", action="append", default=[], metavar="ROOT.json")
    p = command(release, "show", _release_show, "print a release's payload (not verified)")
    p.add_argument("release_dir", metavar="RELEASE_DIR")

    p = command(
        subparsers,
        "verify",
        _verify,
        "verify a release directory before flashing it (exit 0 only if it is safe)",
    )
    p.add_argument("release_dir", metavar="RELEASE_DIR")
    p.add_argument("--root", required=True, metavar="ROOT.json", help="the root this host trusts")
    p.add_argument("--board", required=True, help="the board about to be flashed")
    p.add_argument(
        "--flash-size", metavar="BYTES", help=f"also check the flash size (1 to {MAX_IMAGE_BYTES})"
    )
    p.add_argument(
        "--state",
        metavar="STATE.json",
        help="rollback state file (highest versions accepted on this host)",
    )
    p.add_argument(
        "--commit-state",
        action="store_true",
        help="record this release in --state after it verified",
    )
    p.add_argument(
        "--allow-expired",
        action="store_true",
        help="accept an expired release or root (host clock wrong); logged",
    )
    p.add_argument(
        "--allow-version-downgrade",
        action="store_true",
        help="accept a lower version (never a lower security_version); logged",
    )
