"""The release directory, dist/<board>/<version>/, and the size limits of its files."""

from __future__ import annotations

ROM_FILE = "coreboot.rom"
MANIFEST_FILE = "manifest.json"
RELEASE_ENVELOPE_FILE = "release.json"
ROOTS_DIRECTORY = "roots"  # N.root.json for each root version, oldest first

# A verifier never reads more than these, whatever a file or payload claims.
MAX_IMAGE_BYTES = 256 * 1024 * 1024
MAX_MANIFEST_BYTES = 64 * 1024 * 1024
