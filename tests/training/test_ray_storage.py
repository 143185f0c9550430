"""Where Ray Train and Tune write (``ray_storage_uri``): a folder, or S3 through pyarrow with the
configured endpoint (moto here); a wrong URI or a missing bucket is refused with its name."""

from __future__ import annotations

from pathlib import Path

import boto3
import pytest

from data.settings import SettingsError, load_settings
from training.ray_train import RayStorageError, ray_storage, storage_at


def test_the_default_is_a_folder_under_the_data_dir(tmp_path: Path) -> None:
    storage = ray_storage(load_settings(data_dir=tmp_path / "var", environment="test"))
    assert storage.path == str((tmp_path / "var" / "ray_results").resolve()) and not storage.is_s3
    assert Path(storage.path).is_dir()
    assert storage.run_kwargs() == {"storage_path": storage.path, "storage_filesystem": None}


def test_an_s3_uri_goes_through_pyarrow_to_the_configured_endpoint(tmp_path: Path, s3_endpoint: str) -> None:
    boto3.client("s3", endpoint_url=s3_endpoint).create_bucket(Bucket="efp-storage-check")
    settings = load_settings(data_dir=tmp_path / "var", environment="test", ray_storage_uri="s3://efp-storage-check/ray",
                             s3_endpoint_url=s3_endpoint)
    storage = ray_storage(settings)
    assert storage.is_s3 and storage.path == "efp-storage-check/ray"  # what RunConfig wants beside a filesystem
    sweep = storage.child("tune-xgboost-1")
    sweep.write_text("best-xgboost.yaml", "members: {}\n")
    body = boto3.client("s3", endpoint_url=s3_endpoint).get_object(Bucket="efp-storage-check",
                                                                    Key="ray/tune-xgboost-1/best-xgboost.yaml")["Body"]
    assert body.read() == b"members: {}\n" and sweep.uri == "s3://efp-storage-check/ray/tune-xgboost-1"


def test_a_missing_bucket_is_named(s3_endpoint: str) -> None:
    with pytest.raises(RayStorageError, match="ray_storage_uri 's3://no-such-bucket/ray': bucket 'no-such-bucket' does not exist"):
        storage_at("s3://no-such-bucket/ray", s3_endpoint)


@pytest.mark.parametrize("uri, message", [
    ("gs://bucket/ray", "must be a folder or an s3:// URI, not 'gs://'"),
    ("s3:///ray", "an s3:// URI needs a bucket"),
])
def test_a_wrong_storage_uri_is_refused_at_start(tmp_path: Path, uri: str, message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        load_settings(data_dir=tmp_path / "var", environment="test", ray_storage_uri=uri)
