"""Migrations 0001/0002: applied once, idempotent, and the right time-series branch for this server."""

from __future__ import annotations

import psycopg

from data.stores.postgres.migrations import MIGRATIONS_DIR, applied_versions, migrate

TABLES = ("load", "weather", "cities", "ingestion_runs", "quarantine", "series_resolution", "supply_position", "alerts")


def test_applied_twice_the_second_time_applies_nothing(pg_clean_url):
    first = migrate(pg_clean_url)
    assert first[:2] == ["0001_timeseries", "0002_metadata"]
    assert migrate(pg_clean_url) == []
    assert applied_versions(pg_clean_url)[:2] == [1, 2]
    with psycopg.connect(pg_clean_url) as conn:
        for table in TABLES:
            assert conn.execute("SELECT to_regclass(%s)", (table,)).fetchone()[0] is not None, table


def test_without_timescaledb_the_series_are_range_partitioned(pg_clean_url):
    migrate(pg_clean_url)
    with psycopg.connect(pg_clean_url) as conn:
        has_extension = conn.execute(
            "SELECT EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'timescaledb')"
        ).fetchone()[0]
        kinds = dict(conn.execute("SELECT relname, relkind FROM pg_class WHERE relname IN ('load', 'weather')").fetchall())
        strategy = conn.execute("SELECT partstrat FROM pg_partitioned_table WHERE partrelid = 'load'::regclass").fetchone()
        storage = conn.execute("SELECT efp_timeseries_storage()").fetchone()[0]
    assert has_extension is False  # this machine's server: the DO block must take the native branch
    assert kinds == {"load": "p", "weather": "p"} and strategy == ("r",) and storage == "partitioned"


def test_hypertable_branch_is_chosen_by_the_extension_check():
    sql = (MIGRATIONS_DIR / "0001_timeseries.sql").read_text()
    assert "hypertables boolean := EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'timescaledb')" in sql
    assert "current_setting('shared_preload_libraries', true), '') LIKE '%timescaledb%'" in sql
    first_if = sql.index("IF hypertables THEN")
    otherwise = sql.index("ELSE", first_if)
    with_extension, without = sql[first_if:otherwise], sql[otherwise:sql.index("END IF", otherwise)]
    assert "CREATE EXTENSION IF NOT EXISTS timescaledb" in with_extension and "layout := '';" in with_extension
    assert "layout := 'PARTITION BY RANGE (ts)';" in without
    assert sql.count(") %s$ddl$, layout);") == 2  # both tables take the chosen layout
    second_if = sql.index("IF hypertables THEN", otherwise)
    hypertable_calls = sql[second_if:sql.index("END IF", second_if)]
    assert "create_hypertable('load', 'ts'" in hypertable_calls and "create_hypertable('weather', 'ts'" in hypertable_calls


def test_partition_helper_is_a_no_op_on_plain_tables(pg_clean_url):
    migrate(pg_clean_url)
    with psycopg.connect(pg_clean_url) as conn:
        conn.execute("CREATE TABLE plain_series (ts timestamptz)")
        created = conn.execute(
            "SELECT efp_ensure_month_partitions('plain_series', '2024-01-01', '2024-06-01')"
        ).fetchone()[0]
        again = conn.execute("SELECT efp_ensure_month_partitions('load', '2024-01-15', '2024-03-01')").fetchone()[0]
        repeat = conn.execute("SELECT efp_ensure_month_partitions('load', '2024-01-15', '2024-03-01')").fetchone()[0]
    assert (created, again, repeat) == (0, 3, 0)
