"""Server-side encryption of registry artifacts (``s3_sse``): every object the registry writes to
moto's S3 server (bundle files, manifest, JSON index) carries the encryption asked for."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import boto3
import pytest

from data.settings import SettingsError, load_settings
from training.registry import VersionInfo, open_registry


INFO = VersionInfo(cities=["DEL"], resolution_minutes=15, members=["xgboost"],
                   train_start=datetime(2024, 1, 1, tzinfo=timezone.utc), train_end=datetime(2024, 6, 1, tzinfo=timezone.utc), feature_schema_hash="abc123")


def _bundle(folder: Path) -> Path:
    (folder / "members").mkdir(parents=True)
    (folder / "members" / "xgboost.json").write_bytes(b"weights" * 50)
    (folder / "bundle.json").write_text('{"kind": "ensemble"}')
    return folder


@pytest.mark.parametrize("kind", ["AES256", "aws:kms"])
def test_every_object_the_registry_writes_carries_the_configured_encryption(tmp_path: Path, s3_endpoint: str, kind: str) -> None:
    key_id = boto3.client("kms", endpoint_url=s3_endpoint).create_key()["KeyMetadata"]["KeyId"] if kind == "aws:kms" else None
    bucket = f"sse-{tmp_path.name[-12:].lower().replace('_', '-')}"
    settings = load_settings(data_dir=tmp_path / "var", registry_uri=f"s3://{bucket}/reg", s3_endpoint_url=s3_endpoint,
                             environment="test", s3_sse=kind, s3_sse_kms_key_id=key_id)
    registry = open_registry(settings)
    version = registry.register(_bundle(tmp_path / "b"), INFO).version
    registry.promote(version, force=True)

    s3 = boto3.client("s3", endpoint_url=s3_endpoint)
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]]
    assert {f"reg/{version}/bundle.json", f"reg/{version}/_manifest.json", f"reg/{version}/members/xgboost.json"} <= set(keys)
    assert any(not k.startswith(f"reg/{version}/") for k in keys)  # the index document too
    for key in keys:
        head = s3.head_object(Bucket=bucket, Key=key)
        assert head.get("ServerSideEncryption") == kind, key
        if key_id is not None:
            assert head["SSEKMSKeyId"].endswith(key_id), key
    assert (registry.fetch(version) / "bundle.json").read_text() == '{"kind": "ensemble"}'


def test_a_kms_key_without_kms_encryption_is_refused(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="s3_sse_kms_key_id.*needs s3_sse: aws:kms"):
        load_settings(data_dir=tmp_path, s3_sse="AES256", s3_sse_kms_key_id="alias/efp")
