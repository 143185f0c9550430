"""Serving fixtures: one world per test module (own PostgreSQL database holding the tiny
bundle's history, a registry with two versions of the tiny real bundle, API keys of each
role), and the Serve app started once on the session's Ray.
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Iterator

import psycopg
import pytest

from serving_world import World, build_world, free_port, wait_ready


@pytest.fixture(scope="module")
def serving_db(pg_url: str) -> Iterator[str]:
    """A database of this module's own, so no other test's schema reset reaches the running app."""
    admin = pg_url.rsplit("/", 1)[0] + "/postgres"
    name = f"efp_serve_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    yield pg_url.rsplit("/", 1)[0] + f"/{name}"
    from data.stores.postgres.pool import close_pools

    close_pools()
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()", (name,))
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
    del admin


@pytest.fixture(scope="module")
def served(ray_cluster, tiny_trained, serving_db: str, redis_url: str, redis_prefix: str,
           tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    """The Serve app over real Redis and PostgreSQL, started once for the module."""
    from ray import serve

    from serving.app import APP_NAME, build_app
    from serving.config import ServeArgs

    world = build_world(tiny_trained, tmp_path_factory.mktemp("serving"), serving_db, redis_url=redis_url,
                        redis_prefix=f"{redis_prefix}{uuid.uuid4().hex[:6]}:", serve={"member_timeout_s": 5.0}, jwt_secret=secrets.token_urlsafe(32))
    port = free_port()
    serve.start(http_options={"host": "127.0.0.1", "port": port})
    args = ServeArgs(settings=world.settings.transport())
    serve.run(build_app(args), name=APP_NAME, route_prefix="/", blocking=False)
    world.url = f"http://127.0.0.1:{port}"
    wait_ready(world.url)
    yield world
    serve.delete(APP_NAME)
    serve.shutdown()
