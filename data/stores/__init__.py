"""Stores of load and weather time series and of metadata, chosen by settings.

``open_store`` and ``open_metadata`` are the only way in: the Parquet lake and files
beside it when no ``database_url`` is set (the embedded default), PostgreSQL otherwise.
Opening a PostgreSQL store applies pending migrations (a pooled probe when none are
pending), and after migrating mirrors the city catalogue into the ``cities`` table, so a
fresh database is usable without a separate set-up step.
"""

from __future__ import annotations

import threading

from data.settings import PlatformSettings
from data.stores.base import TimeSeriesStore, WriteCounts
from data.stores.forecasts import FileForecastStore, ForecastStore
from data.stores.lake import LakeStore
from data.stores.metadata import FileMetadataStore, MetadataStore

__all__ = ["ForecastStore", "MetadataStore", "TimeSeriesStore", "WriteCounts", "open_forecasts", "open_metadata", "open_store",
           "prepare_database"]

_lock = threading.Lock()


def _pending_migrations(url: str) -> bool:
    from data.stores.postgres.migrations import available_migrations
    from data.stores.postgres.pool import get_pool

    with get_pool(url).connection() as conn:
        if conn.execute("SELECT to_regclass('schema_migrations')").fetchone()[0] is None:
            return True
        done = {row[0] for row in conn.execute("SELECT version FROM schema_migrations")}
    return any(m.version not in done for m in available_migrations())


def prepare_database(url: str) -> list[str]:
    """Apply pending migrations; returns what was applied now (empty when up to date)."""
    from data.stores.postgres.migrations import migrate
    from data.stores.postgres.pool import unavailable_as

    with _lock, unavailable_as("database"):
        return migrate(url) if _pending_migrations(url) else []


def open_store(settings: PlatformSettings) -> TimeSeriesStore:
    """The configured time-series store (PostgreSQL when ``database_url`` is set, else the lake)."""
    if settings.database_url:
        from data.stores.postgres.timeseries import PostgresStore

        prepare_database(settings.database_dsn)
        return PostgresStore(settings.database_dsn)
    return LakeStore(settings.lake_dir)


def open_metadata(settings: PlatformSettings) -> MetadataStore:
    """The configured metadata store (PostgreSQL tables, or files under ``metadata_dir``)."""
    if settings.database_url:
        from data.catalogue import load_catalogue
        from data.stores.postgres.metadata import PostgresMetadataStore

        applied = prepare_database(settings.database_dsn)
        store = PostgresMetadataStore(settings.database_dsn)
        if applied:
            for city in load_catalogue(settings):
                store.upsert_city(city)
        return store
    return FileMetadataStore(settings.metadata_dir)


def open_forecasts(settings: PlatformSettings) -> ForecastStore:
    """The configured store of issued forecasts (PostgreSQL tables, or Parquet under ``data_dir/forecasts``)."""
    if settings.database_url:
        from data.stores.postgres.forecasts import PostgresForecastStore

        prepare_database(settings.database_dsn)
        return PostgresForecastStore(settings.database_dsn)
    return FileForecastStore(settings.data_dir / "forecasts")
