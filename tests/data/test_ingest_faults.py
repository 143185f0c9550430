"""PostgreSQL going away in the middle of an ingest (issue 11, fault tests): the run fails
with one clear line and the platform's error type, and the database holds exactly the rows
it held before. The shared server is never stopped: the store reaches it through the
``tests/faults.py`` proxy, which the test cuts while the batch's COPY is on the wire."""

from __future__ import annotations

import datetime as dt

import psycopg
import pytest

from data.catalogue import load_catalogue
from data.errors import BackendUnavailableError
from data.pipeline import ingest
from data.settings import load_settings
from data.stores import open_metadata
from data.stores.postgres.pool import close_pools
from data.synthetic import generate_city
from tests.faults import TcpProxy


def _load_rows(url: str) -> list[tuple]:
    with psycopg.connect(url) as conn:
        return conn.execute("SELECT city, ts, load_mw FROM load ORDER BY city, ts").fetchall()


def _runs(url: str) -> int:
    with psycopg.connect(url) as conn:
        return conn.execute("SELECT count(*) FROM ingestion_runs").fetchone()[0]


def test_postgresql_cut_mid_ingest_fails_cleanly_with_nothing_half_written(tmp_path, pg_clean_url):
    server = psycopg.conninfo.conninfo_to_dict(pg_clean_url)
    proxy = TcpProxy((server["host"], int(server.get("port", 5432)))).start()
    url = proxy.url("postgresql://postgres@{}/" + pg_clean_url.rsplit("/", 1)[1])
    settings = load_settings(data_dir=tmp_path / "var", database_url=url, environment="test")
    catalogue = load_catalogue(settings)
    delhi = catalogue.get("DEL")
    try:
        ingest(generate_city(delhi, dt.date(2024, 1, 1), 5, seed=3, fault_rate=0), settings, catalogue=catalogue)
        before, runs_before = _load_rows(pg_clean_url), _runs(pg_clean_url)
        assert len(before) == 5 * 96
        batch = generate_city(delhi, dt.date(2024, 1, 4), 90, seed=3, fault_rate=0)  # overlaps: a merge
        proxy.cut_after(200_000)  # about a third of this batch's COPY
        with pytest.raises(BackendUnavailableError) as failure:
            ingest(batch, settings, catalogue=catalogue)
        message = str(failure.value)
        assert message == "time-series database unavailable; try again shortly" and failure.value.exit_code == 1
        assert _load_rows(pg_clean_url) == before  # nothing half-written ...
        assert _runs(pg_clean_url) == runs_before  # ... and no run claims the batch
        proxy.start()  # the database is back: the same import, run again (a new process, a new pool), succeeds in full
        close_pools()
        summary = ingest(batch, settings, catalogue=catalogue)
        assert summary.inserted == 88 * 96 and summary.unchanged == 2 * 96
        assert len(_load_rows(pg_clean_url)) == 93 * 96 and len(open_metadata(settings).runs()) == runs_before + 1
    finally:
        proxy.stop()
        close_pools()
