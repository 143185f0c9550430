"""The ingest pipeline end to end on real stores: reconciliation, idempotent re-ingest,
bad rows quarantined with their line, bad files storing nothing."""

from __future__ import annotations

import datetime as dt

import pytest

from data.catalogue import load_catalogue
from data.connectors import read_csv
from data.errors import InputFileError
from data.pipeline import ingest
from data.stores import open_metadata, open_store
from data.synthetic import generate_city

START = dt.date(2024, 3, 1)


@pytest.fixture(params=["lake", "postgres"])
def any_settings(request):
    return request.getfixturevalue("settings" if request.param == "lake" else "pg_settings")


def _delhi_batch(settings, fault_rate=0.03):
    return generate_city(load_catalogue(settings).get("DEL"), START, 3, seed=7, fault_rate=fault_rate)


def test_summary_reconciles_and_matches_what_is_stored(any_settings):
    batch = _delhi_batch(any_settings)
    summary = ingest(batch, any_settings)
    assert summary.reconciles() and summary.input_rows == len(batch.load)
    assert summary.rejected > 0 or summary.repaired > 0  # faults at 3 % of blocks do not go unnoticed
    stored = open_store(any_settings).read_load("DEL")
    assert summary.inserted == len(stored) and summary.unchanged == 0 and summary.cities == ["DEL"]
    run = open_metadata(any_settings).runs()[0]
    assert run["run_id"] == summary.run_id and run["input_rows"] == summary.input_rows
    assert len(open_metadata(any_settings).quarantine(city="DEL")) == summary.rejected


def test_ingesting_the_same_batch_twice_inserts_nothing(any_settings):
    first = ingest(_delhi_batch(any_settings), any_settings)
    second = ingest(_delhi_batch(any_settings), any_settings)
    assert (second.inserted, second.updated, second.unchanged) == (0, 0, first.inserted)
    assert len(open_store(any_settings).read_load("DEL")) == first.inserted


def test_bad_row_is_quarantined_with_its_line_and_field(settings, tmp_path):
    path = tmp_path / "delhi.csv"
    path.write_text(
        "timestamp,load_mw,temperature_c\n"
        "2024-03-01T00:00:00+05:30,4100.5,18.0\n"
        "2024-03-01T00:15:00+05:30,not-a-number,18.1\n"
        "2024-03-01T00:30:00+05:30,4080.0,18.2\n"
        "2024-03-01T00:45:00+05:30,4075.0,18.2\n",
        encoding="utf-8",
    )
    catalogue = load_catalogue(settings)
    summary = ingest(read_csv(path, city="DEL", catalogue=catalogue), settings, catalogue=catalogue)
    assert (summary.input_rows, summary.accepted, summary.rejected) == (4, 3, 1) and summary.reconciles()
    (row,) = open_metadata(settings).quarantine(city="DEL").to_dict("records")
    assert row["line"] == 3 and row["field"] == "load_mw" and row["raw"] == "2024-03-01T00:15:00+05:30,not-a-number,18.1"
    assert row["run_id"] == summary.run_id
    stored = open_store(settings).read_load("DEL")
    assert len(stored) == 4 and int(stored["imputed"].sum()) == 1  # the rejected block is filled and flagged


def test_missing_column_stores_nothing(settings, tmp_path):
    ingest(_delhi_batch(settings), settings)
    before = sorted((p.name, p.stat().st_mtime_ns) for p in settings.lake_dir.rglob("*.parquet"))
    runs_before = len(open_metadata(settings).runs())
    path = tmp_path / "bad.csv"
    path.write_text("timestamp,demand\n2024-03-01T00:00:00+05:30,4100\n", encoding="utf-8")
    with pytest.raises(InputFileError) as error:
        ingest(read_csv(path, city="DEL", catalogue=load_catalogue(settings)), settings)
    assert "load_mw" in str(error.value) and str(path) in str(error.value)
    assert sorted((p.name, p.stat().st_mtime_ns) for p in settings.lake_dir.rglob("*.parquet")) == before
    assert len(open_metadata(settings).runs()) == runs_before


def _break_quarantine(settings) -> None:
    """Make storing the quarantine fail for real: a file where its folder goes, or no table."""
    if settings.database_dsn:
        import psycopg

        open_metadata(settings).runs()  # the migrations are applied
        with psycopg.connect(settings.database_dsn, autocommit=True) as conn:
            conn.execute("DROP TABLE quarantine")
    else:
        settings.metadata_dir.mkdir(parents=True, exist_ok=True)
        (settings.metadata_dir / "quarantine").write_text("not a folder", encoding="utf-8")


def test_a_run_is_recorded_together_with_its_quarantine_or_not_at_all(any_settings, tmp_path):
    """Order (issue 11, finding 12): data commit, then the run with its quarantine as one record."""
    path = tmp_path / "delhi.csv"
    path.write_text("timestamp,load_mw\n2024-03-01T00:00:00+05:30,4100\n2024-03-01T00:15:00+05:30,-4\n"
                    "2024-03-01T00:30:00+05:30,4080\n", encoding="utf-8")
    catalogue = load_catalogue(any_settings)
    _break_quarantine(any_settings)
    with pytest.raises(Exception) as failure:
        ingest(read_csv(path, city="DEL", catalogue=catalogue), any_settings, catalogue=catalogue)
    assert not isinstance(failure.value, AssertionError)
    assert open_metadata(any_settings).runs() == []  # no run claims rejected rows it has no quarantine for
    stored = len(open_store(any_settings).read_load("DEL"))
    assert stored > 0  # the data commit came first; importing again records the run


def test_timestamps_outside_the_configured_range_are_quarantined_naming_line_and_column(settings, tmp_path):
    """Issue 11, finding 13: a year-2204 typo used to be stored."""
    path = tmp_path / "delhi.csv"
    path.write_text(
        "timestamp,load_mw\n"
        "2024-03-01T00:00:00+05:30,4100\n"
        "2204-03-01T00:15:00+05:30,4090\n"
        "1999-12-31T23:30:00+05:30,4080\n"
        "2024-03-01T00:30:00+05:30,4080\n", encoding="utf-8")
    catalogue = load_catalogue(settings)
    summary = ingest(read_csv(path, city="DEL", catalogue=catalogue), settings, catalogue=catalogue)
    assert (summary.accepted, summary.rejected) == (2, 2) and summary.rejections == {"timestamp_out_of_range": 2}
    rows = open_metadata(settings).quarantine(city="DEL").sort_values("line").to_dict("records")
    assert [(r["line"], r["field"]) for r in rows] == [(3, "timestamp"), (4, "timestamp")]
    assert rows[0]["reason"].startswith("line 3, column 'timestamp': timestamp 2204-02-29T18:45+00:00 is after ")
    assert rows[0]["reason"].endswith("too far ahead (ingest.future_days)")
    assert rows[1]["reason"] == ("line 4, column 'timestamp': timestamp 1999-12-31T18:00+00:00 is before 2000-01-01 "
                                 "(ingest.earliest)")
    assert summary.path == str(path)  # the run names the file its quarantined lines are in
    stored = open_store(settings).read_load("DEL")
    assert stored["ts"].dt.year.unique().tolist() == [2024]


def test_the_range_is_configurable_and_forecasts_may_be_further_ahead(tmp_path):
    import pandas as pd

    from data.records import SourceBatch
    from data.settings import load_settings

    settings = load_settings(data_dir=tmp_path / "var", environment="test",
                             ingest={"earliest": "2024-01-01", "future_days": 0, "forecast_future_days": 3})
    now = pd.Timestamp.now(tz="UTC").floor("h")
    ts = pd.Series([pd.Timestamp("2023-12-31 23:00", tz="UTC"), now - pd.Timedelta(hours=1),
                    now + pd.Timedelta(days=2), now + pd.Timedelta(days=5)])
    weather = pd.DataFrame({"line": [1, 2, 3, 4], "city": "DEL", "ts": ts, "temperature_c": 20.0,
                            "kind": "forecast", "issued_at": now})
    summary = ingest(SourceBatch("open-meteo", "forecast.json", pd.DataFrame(), weather), settings)
    assert (summary.accepted, summary.rejected) == (2, 2)
    assert sorted(open_metadata(settings).quarantine()["line"].tolist()) == [1, 4]
