"""Per-file SHA-256 manifest: written when a version is registered, checked before any load.

A manifest lists every file of the bundle with its size and digest. Checking it catches
a flipped byte (digest), a truncated file (size, reported as such) and a missing file, and
the registry index keeps the manifest's own digest so an edited manifest is caught too.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from training.registry.errors import CorruptArtifactError

MANIFEST_NAME = "_manifest.json"
_CHUNK = 1 << 20


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def build_manifest(folder: Path, version: str) -> bytes:
    """The manifest of every file under ``folder`` (sorted, relative POSIX paths), as JSON bytes."""
    files: dict[str, dict[str, Any]] = {}
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        relative = path.relative_to(folder).as_posix()
        if relative == MANIFEST_NAME:
            continue
        files[relative] = {"sha256": file_sha256(path), "size": path.stat().st_size}
    return json.dumps({"version": version, "files": files}, indent=1, sort_keys=True).encode()


def parse_manifest(raw: bytes, version: str, expected_sha256: str) -> dict[str, dict[str, Any]]:
    """Check the manifest's own digest against the index, then return its file table."""
    if hashlib.sha256(raw).hexdigest() != expected_sha256:
        raise CorruptArtifactError(f"model version {version}: {MANIFEST_NAME} does not match the registry index (altered)")
    return json.loads(raw)["files"]


def verify_folder(folder: Path, files: dict[str, dict[str, Any]], version: str) -> None:
    """Raise CorruptArtifactError on the first missing, truncated or altered file."""
    for relative, entry in sorted(files.items()):
        path = folder / relative
        if not path.is_file():
            raise CorruptArtifactError(f"model version {version}: artifact '{relative}' is missing")
        size = path.stat().st_size
        if size != entry["size"]:
            kind = "truncated" if size < entry["size"] else "has extra bytes"
            raise CorruptArtifactError(
                f"model version {version}: artifact '{relative}' is {kind} ({size} bytes, expected {entry['size']})"
            )
        if file_sha256(path) != entry["sha256"]:
            raise CorruptArtifactError(
                f"model version {version}: artifact '{relative}' is corrupt (SHA-256 differs from the manifest)"
            )
