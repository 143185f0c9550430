"""Errors the registry raises; each is one line naming the version and the file at fault."""

from __future__ import annotations

from data.errors import PlatformError


class CorruptArtifactError(PlatformError):
    """A stored artifact does not match the SHA-256 manifest written at register time.

    Raised instead of ever handing a damaged model to a loader: a flipped byte, a truncated
    or missing file, or an altered manifest.
    """

    exit_code = 5


class RegistryError(PlatformError):
    """The registry's storage cannot be used as configured (bucket, folder, index)."""

    exit_code = 6
