"""Where version files live: a local folder (embedded default) or an S3 prefix (boto3).

Both offer the same four operations: store a bundle folder with its manifest, read the
manifest, hand back a verified local folder (of the whole version, or of only some of its
folders: one city's model of a per-city version), and read/replace one small JSON document
(the file index, when no PostgreSQL is configured) without losing a concurrent update.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Protocol

from data.settings import PlatformSettings
from data.stores.locking import file_lock
from training.registry.errors import CorruptArtifactError, RegistryError
from training.registry.manifest import MANIFEST_NAME, parse_manifest, verify_folder

#: Replaces the bytes of a JSON document given its current bytes (None when it does not exist yet).
Update = Callable[[bytes | None], bytes]


def select_files(files: dict[str, dict[str, Any]], only: Sequence[str] | None) -> dict[str, dict[str, Any]]:
    """The manifest entries under the folders ``only`` names (relative POSIX paths), plus the
    version's top-level files (bundle.json and the like); every entry when ``only`` is None."""
    if only is None:
        return files
    prefixes = tuple(f"{folder.strip('/')}/" for folder in only)
    chosen = {relative: entry for relative, entry in files.items() if "/" not in relative or relative.startswith(prefixes)}
    for folder, prefix in zip(only, prefixes):
        if not any(relative.startswith(prefix) for relative in chosen):
            raise CorruptArtifactError(f"the manifest lists no file under '{folder}'")
    return chosen


class ArtifactStore(Protocol):
    def put(self, version: str, folder: Path, manifest: bytes) -> str: ...

    def local_copy(self, version: str, manifest_sha256: str, only: Sequence[str] | None = None) -> Path: ...

    def update_document(self, name: str, update: Update) -> bytes: ...

    def read_document(self, name: str) -> bytes | None: ...

    def document_tag(self, name: str) -> str: ...


class LocalArtifacts:
    """Versions as folders under ``root``; the folder itself is verified and handed out."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def put(self, version: str, folder: Path, manifest: bytes) -> str:
        self.root.mkdir(parents=True, exist_ok=True)
        target = self.root / version
        staging = self.root / f".{version}.{uuid.uuid4().hex[:6]}.partial"
        shutil.copytree(folder, staging, ignore=shutil.ignore_patterns(MANIFEST_NAME))
        (staging / MANIFEST_NAME).write_bytes(manifest)
        os.replace(staging, target)  # a version appears whole or not at all
        return str(target)

    def local_copy(self, version: str, manifest_sha256: str, only: Sequence[str] | None = None) -> Path:
        folder = self.root / version
        manifest = folder / MANIFEST_NAME
        if not manifest.is_file():
            raise CorruptArtifactError(f"model version {version}: {manifest} is missing")
        files = parse_manifest(manifest.read_bytes(), version, manifest_sha256)
        verify_folder(folder, select_files(files, only), version)
        return folder

    def read_document(self, name: str) -> bytes | None:
        path = self.root / name
        return path.read_bytes() if path.exists() else None

    def update_document(self, name: str, update: Update) -> bytes:
        with file_lock(self.root / f".{name}.lock"):
            new = update(self.read_document(name))
            fd, tmp = tempfile.mkstemp(dir=self.root, prefix=f".{name}.")
            with os.fdopen(fd, "wb") as handle:
                handle.write(new)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, self.root / name)  # atomic: readers see the old or the new file
            return new

    def document_tag(self, name: str) -> str:
        path = self.root / name
        return str(path.stat().st_mtime_ns) if path.exists() else "0"


class _BucketMissing(RegistryError):
    """The registry's bucket does not exist (never created, or gone)."""


#: Suffix of the temporary folders a cache download writes into before its rename.
_STAGING = ".partial"


def _is_complete(folder: Path, manifest: bytes) -> bool:
    """A cache copy is complete once its manifest, the last file a download writes, matches the index's."""
    marker = folder / MANIFEST_NAME
    return marker.is_file() and marker.read_bytes() == manifest


class S3Artifacts:
    """Versions as objects under ``s3://bucket/prefix/<version>/``, fetched into a local cache.

    ``encryption`` is the server-side encryption every write asks for (``ServerSideEncryption``
    and, for KMS, ``SSEKMSKeyId``), so artifacts are encrypted at rest even in a bucket
    without a default encryption policy.
    """

    def __init__(self, uri: str, endpoint_url: str | None, cache_dir: Path, encryption: dict[str, str] | None = None) -> None:
        import boto3

        bucket, _, prefix = uri.removeprefix("s3://").partition("/")
        if not bucket:
            raise RegistryError(f"registry_uri '{uri}': no bucket named")
        self.bucket, self.prefix, self.cache_dir = bucket, prefix.strip("/"), cache_dir
        self.client = boto3.client("s3", endpoint_url=endpoint_url)
        self.encryption = dict(encryption or {})
        self._bucket_checked = False

    def _key(self, *parts: str) -> str:
        return "/".join(p for p in (self.prefix, *parts) if p)

    def _ensure_bucket(self) -> None:
        if self._bucket_checked:
            return
        from botocore.exceptions import ClientError

        try:
            self.client.head_bucket(Bucket=self.bucket)
        except ClientError:
            try:
                self.client.create_bucket(Bucket=self.bucket)
            except ClientError as error:
                raise RegistryError(f"S3 bucket '{self.bucket}' is not usable: {error}") from None
        self._bucket_checked = True

    def put(self, version: str, folder: Path, manifest: bytes) -> str:
        self._ensure_bucket()
        for path in sorted(p for p in folder.rglob("*") if p.is_file()):
            relative = path.relative_to(folder).as_posix()
            if relative != MANIFEST_NAME:
                self.client.upload_file(str(path), self.bucket, self._key(version, relative), ExtraArgs=self.encryption)
        # The manifest goes last: a version whose upload broke off has none and is never fetched.
        self.client.put_object(Bucket=self.bucket, Key=self._key(version, MANIFEST_NAME), Body=manifest, **self.encryption)
        return f"s3://{self.bucket}/{self._key(version)}"

    def _get(self, key: str) -> tuple[bytes, str] | None:
        """The object's bytes and ETag, None when the key does not exist; a bucket that is gone is
        a RegistryError, never "no such object" (an index read as empty would hide the outage)."""
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            response = self.client.get_object(Bucket=self.bucket, Key=key)
        except BotoCoreError as error:  # no answer at all: endpoint unreachable, timed out, no credentials
            raise RegistryError(f"S3 read of s3://{self.bucket}/{key} failed: {error}") from None
        except ClientError as error:
            code = error.response.get("Error", {}).get("Code")
            if code in {"NoSuchKey", "404"}:
                return None
            if code == "NoSuchBucket":
                raise _BucketMissing(f"S3 bucket '{self.bucket}' does not exist (reading s3://{self.bucket}/{key})") from None
            raise RegistryError(f"S3 read of s3://{self.bucket}/{key} failed: {error}") from None
        return response["Body"].read(), response["ETag"]

    def local_copy(self, version: str, manifest_sha256: str, only: Sequence[str] | None = None) -> Path:
        """The verified cache folder of ``version``, downloaded once per host however many replicas ask.

        Every replica warms a newly promoted version at once, so the download runs under a
        per-version ``flock`` in the cache: the first one downloads into a temporary folder
        and renames it into place; the others wait, then find it complete and use it. A folder
        counts as complete only with its manifest, written last, matching the index; what a
        killed download leaves (a temporary folder, or a folder without that manifest) is
        cleared under the same lock, since no one reads an incomplete copy. A complete copy is
        never replaced while it verifies: other replicas may be loading it.
        """
        key = self._key(version, MANIFEST_NAME)
        fetched = self._get(key)
        if fetched is None:
            raise CorruptArtifactError(f"model version {version}: s3://{self.bucket}/{key} is missing")
        manifest = fetched[0]
        files = parse_manifest(manifest, version, manifest_sha256)
        if only is not None:
            return self._local_part(version, select_files(files, only))
        cached = self.cache_dir / version
        with file_lock(self.cache_dir / ".locks" / f"{version}.lock"):
            if _is_complete(cached, manifest):
                try:
                    verify_folder(cached, files, version)
                    return cached
                except CorruptArtifactError:
                    pass  # a damaged copy is refetched, never used
            self._clear_leftovers(version, cached)
            staging = Path(tempfile.mkdtemp(dir=self.cache_dir, prefix=f".{version}.", suffix=_STAGING))
            try:
                for relative in files:
                    body = self._get(self._key(version, relative))
                    if body is None:
                        raise CorruptArtifactError(f"model version {version}: artifact '{relative}' is missing in S3")
                    (staging / relative).parent.mkdir(parents=True, exist_ok=True)
                    (staging / relative).write_bytes(body[0])
                verify_folder(staging, files, version)
                (staging / MANIFEST_NAME).write_bytes(manifest)  # last: the mark of a complete copy
                os.rename(staging, cached)  # `cached` is gone (cleared above, under the lock)
            except BaseException:
                shutil.rmtree(staging, ignore_errors=True)
                raise
        return cached

    def _local_part(self, version: str, files: dict[str, dict[str, Any]]) -> Path:
        """Only ``files`` of ``version``, in a cache folder of its own (``<version>.parts``) that fills
        file by file: a replica serving one city of a per-city version downloads that city's model,
        not the other cities'. Each file is written beside its place and renamed into it once it
        matches the manifest, under the version's parts lock, so a reader never sees half a file."""
        folder = self.cache_dir / f"{version}.parts"
        with file_lock(self.cache_dir / ".locks" / f"{version}.parts.lock"):
            for relative, entry in sorted(files.items()):
                target = folder / relative
                if target.is_file():
                    try:
                        verify_folder(folder, {relative: entry}, version)
                        continue
                    except CorruptArtifactError:
                        pass  # damaged: downloaded again
                body = self._get(self._key(version, relative))
                if body is None:
                    raise CorruptArtifactError(f"model version {version}: artifact '{relative}' is missing in S3")
                if len(body[0]) != entry["size"] or hashlib.sha256(body[0]).hexdigest() != entry["sha256"]:
                    raise CorruptArtifactError(f"model version {version}: artifact '{relative}' in S3 does not match the manifest")
                target.parent.mkdir(parents=True, exist_ok=True)
                download = target.with_name(f".{target.name}.download")
                download.write_bytes(body[0])
                os.replace(download, target)
        return folder

    def _clear_leftovers(self, version: str, cached: Path) -> None:
        """Remove what a killed or failed download of ``version`` left; call it under the version's lock.

        The lock holder is the only downloader of this version, so every temporary folder of
        it belongs to a dead process; a folder at ``cached`` here is incomplete or damaged.
        """
        for leftover in self.cache_dir.glob(f".{version}.*{_STAGING}"):
            shutil.rmtree(leftover, ignore_errors=True)
        if cached.exists():
            aside = self.cache_dir / f".{version}.{uuid.uuid4().hex[:8]}.damaged{_STAGING}"
            os.rename(cached, aside)  # one atomic step, so `cached` is never half-removed
            shutil.rmtree(aside, ignore_errors=True)

    def read_document(self, name: str) -> bytes | None:
        """The document, None when it (or, before the first write, the bucket) does not exist yet.

        Reading never creates the bucket: one that vanished under a running registry is an
        outage (RegistryError), not an empty registry."""
        try:
            fetched = self._get(self._key(name))
        except _BucketMissing:
            if self._bucket_checked:
                raise
            return None  # a registry nothing was written to yet
        self._bucket_checked = True
        return None if fetched is None else fetched[0]

    def update_document(self, name: str, update: Update) -> bytes:
        """Optimistic concurrency: a conditional put (If-Match / If-None-Match) retried on conflict."""
        from botocore.exceptions import ClientError

        self._ensure_bucket()
        for _ in range(20):
            fetched = self._get(self._key(name))
            new = update(None if fetched is None else fetched[0])
            condition: dict[str, Any] = {"IfNoneMatch": "*"} if fetched is None else {"IfMatch": fetched[1]}
            try:
                self.client.put_object(Bucket=self.bucket, Key=self._key(name), Body=new, **condition, **self.encryption)
                return new
            except ClientError as error:
                if error.response.get("Error", {}).get("Code") not in {"PreconditionFailed", "ConditionalRequestConflict", "412"}:
                    raise RegistryError(f"S3 write of {name} failed: {error}") from None
        raise RegistryError(f"S3 index {name}: too many concurrent updates, try again")

    def document_tag(self, name: str) -> str:
        from botocore.exceptions import ClientError

        try:
            return self.client.head_object(Bucket=self.bucket, Key=self._key(name))["ETag"]
        except ClientError:
            return "0"


def s3_encryption(settings: PlatformSettings) -> dict[str, str]:
    """boto3's arguments for the configured server-side encryption (``s3_sse``), empty when none."""
    if settings.s3_sse is None:
        return {}
    args = {"ServerSideEncryption": settings.s3_sse}
    if settings.s3_sse_kms_key_id is not None:
        args["SSEKMSKeyId"] = settings.s3_sse_kms_key_id
    return args


def open_artifacts(settings: PlatformSettings) -> ArtifactStore:
    if settings.registry_is_s3:
        return S3Artifacts(settings.registry_uri, settings.s3_endpoint_url, settings.data_dir / "cache" / "registry",
                           s3_encryption(settings))
    return LocalArtifacts(settings.registry_path)
