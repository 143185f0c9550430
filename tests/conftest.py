"""Session-wide real services for the suite: one Ray cluster, a fresh PostgreSQL database,
a Redis key namespace and an S3-compatible server (moto in server mode) on loopback.

Nothing here mocks what a test is about: stores talk to the real PostgreSQL, caches to
the real Redis, the registry to a real HTTP S3 endpoint through boto3.
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
import redis as redis_lib

from data.settings import PlatformSettings, load_settings

PG_ADMIN_URL = os.environ.get("EFP_TEST_PG_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("EFP_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")

# CI runs the property tests on a fixed sequence of examples, so a landing never depends on
# the draw; developers' runs keep exploring new examples (and the database remembers failures).
from hypothesis import settings as hypothesis_settings

hypothesis_settings.register_profile("ci", derandomize=True, print_blob=True)
if os.environ.get("CI"):
    hypothesis_settings.load_profile("ci")

# The suite sets its own settings; a developer's shell must not leak into it.
for _key in [k for k in os.environ if k.upper().startswith("EFP_") and not k.upper().startswith("EFP_TEST_")]:
    del os.environ[_key]

# moto accepts any credentials; set before the session's Ray starts, since its workers (Ray
# Train writing checkpoints to S3 through pyarrow) keep the environment they started with.
os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def ray_cluster() -> Iterator[Any]:
    """One local Ray for the whole session (2 CPUs), as a ``ray.init`` context, with the
    configured Serve fast paths, so the functional suite runs what production runs. Its
    dashboard runs (on a free port) for the job server only: the Job Submission API, what
    `ray job submit` uses, costs about 2 s of start-up. Workers report their metrics to the
    node's metrics agent every second (Ray's default is 10 s), so the metrics tests wait less."""
    import ray

    from serving.config import load_deployments_config
    from serving.fast_paths import apply

    apply(load_deployments_config().fast_paths)
    context = ray.init(address="local", num_cpus=2, include_dashboard=True, dashboard_host="127.0.0.1",
                       dashboard_port=_free_port(), ignore_reinit_error=True, log_to_driver=False,
                       _system_config={"metrics_report_interval_ms": 1000})
    yield context
    try:
        from ray import serve

        serve.shutdown()
    except Exception:  # Serve may never have started
        pass
    ray.shutdown()


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    """A fresh database for this session, dropped at the end."""
    name = f"efp_test_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base = PG_ADMIN_URL.rsplit("/", 1)[0]
    yield f"{base}/{name}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
            (name,),
        )
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')


@pytest.fixture()
def pg_clean_url(pg_url: str) -> Iterator[str]:
    """The session database with every table of the platform dropped, for tests that need a blank one."""
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("DROP SCHEMA public CASCADE; CREATE SCHEMA public;")
    yield pg_url


@pytest.fixture(scope="session")
def redis_prefix() -> Iterator[str]:
    """A key namespace of this session on the real Redis, removed at the end."""
    prefix = f"efp-test-{uuid.uuid4().hex[:8]}:"
    yield prefix
    client = redis_lib.Redis.from_url(REDIS_URL)
    for key in client.scan_iter(f"{prefix}*"):
        client.delete(key)


@pytest.fixture(scope="session")
def redis_url() -> str:
    redis_lib.Redis.from_url(REDIS_URL).ping()
    return REDIS_URL


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    """moto's S3 server on a loopback port, reached through boto3 with an endpoint URL."""
    from moto.server import ThreadedMotoServer

    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


@pytest.fixture()
def open_meteo():
    """Open-Meteo's forecast and archive APIs on loopback (tests/open_meteo_fake.py)."""
    from open_meteo_fake import open_meteo_server

    with open_meteo_server() as fake:
        yield fake


@pytest.fixture()
def settings(tmp_path: Path) -> PlatformSettings:
    """Embedded-default settings rooted in a per-test folder (lake, metadata, registry)."""
    return load_settings(data_dir=tmp_path / "var", registry_uri=str(tmp_path / "registry"), environment="test")


@pytest.fixture()
def pg_settings(tmp_path: Path, pg_clean_url: str) -> PlatformSettings:
    """Settings with PostgreSQL as the store, on a blank database."""
    return load_settings(
        data_dir=tmp_path / "var",
        registry_uri=str(tmp_path / "registry"),
        database_url=pg_clean_url,
        environment="test",
    )


# --- training: a tiny real bundle for the evaluation and serving tests ------------------------
class TinyBundle:
    """What ``tiny_trained`` built: the bundle folder, settings whose lake holds its data, and its window."""

    def __init__(self, bundle_dir: Path, settings: PlatformSettings, cities: list[str], data_start, data_end) -> None:
        self.bundle_dir, self.settings, self.cities = bundle_dir, settings, cities
        self.data_start, self.data_end = data_start, data_end  # UTC timestamps of the stored load


@pytest.fixture(scope="session")
def tiny_trained(tmp_path_factory: pytest.TempPathFactory) -> TinyBundle:
    """A tiny REAL bundle (XGBoost, LSTM, Transformer fitted in-process, no Ray Train) over 2
    cities x 45 days of synthetic data written to a temporary lake (through ``data.pipeline``
    when it is available, else straight into the store). About 15 s.
    """
    import datetime as dt

    from training.tiny import build_tiny_bundle

    root = tmp_path_factory.mktemp("tiny_bundle")
    tiny_settings = load_settings(data_dir=root / "var", registry_uri=str(root / "registry"), environment="test")
    path, cities, start, end = build_tiny_bundle(tiny_settings, root / "bundle", ["DEL", "MUM"], dt.date(2024, 3, 1), 45)
    return TinyBundle(path, tiny_settings, cities, start, end)


@pytest.fixture(scope="session")
def tiny_bundle_dir(tiny_trained: TinyBundle) -> Path:
    """Folder of the tiny real bundle (``training.bundle.load_bundle(tiny_bundle_dir)``)."""
    return tiny_trained.bundle_dir
