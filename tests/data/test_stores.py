"""Both time-series stores on real storage (Parquet files, the session's PostgreSQL database):
the same contract for each (exact dtypes, upsert counts, range reads, all-or-nothing
batches), then what is particular to each (lake partitions, monthly PG partitions)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import psycopg
import pyarrow.parquet as pq
import pytest
from pandas.testing import assert_frame_equal

from data.schema import LOAD_SCHEMA, WEATHER_SCHEMA
from data.stores import open_store
from data.stores.base import WriteCounts
from data.stores.lake import LakeStore
from data.stores.postgres.timeseries import PostgresStore

UTC = "datetime64[us, UTC]"


def load_frame(city: str = "DEL", start: str = "2023-12-31 00:00", periods: int = 4 * 96, seed: int = 1) -> pd.DataFrame:
    ts = pd.date_range(start, periods=periods, freq="15min", tz="UTC")
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "city": city,
            "ts": ts,
            "load_mw": rng.uniform(1000, 5000, periods).round(3),
            "imputed": rng.random(periods) < 0.05,
            "load_shedding": rng.random(periods) < 0.02,
            "outlier": False,
        }
    )


def weather_frame(city: str = "DEL", start: str = "2023-12-31 00:00", periods: int = 2 * 96) -> pd.DataFrame:
    ts = pd.date_range(start, periods=periods, freq="15min", tz="UTC")
    frame = pd.DataFrame(
        {
            "city": city,
            "ts": ts,
            "temperature_c": np.linspace(10, 30, periods),
            "relative_humidity_pct": 55.0,
            "dew_point_c": 8.5,
            "precipitation_mm": 0.0,
            "cloud_cover_pct": np.nan,
            "wind_speed_kmh": 7.0,
            "shortwave_radiation_wm2": 100.0,
            "kind": "observed",
            "issued_at": pd.Series(pd.NaT, index=range(periods), dtype="datetime64[us, UTC]"),
        }
    )
    forecast = frame.head(8).assign(kind="forecast", issued_at=pd.Timestamp("2023-12-30 12:00", tz="UTC"))
    return pd.concat([frame, forecast], ignore_index=True)


@pytest.fixture(params=["lake", "postgres"])
def store(request):
    """Each contract test runs against the lake and against PostgreSQL (a blank database)."""
    name = "settings" if request.param == "lake" else "pg_settings"
    return open_store(request.getfixturevalue(name))


def test_load_round_trip_keeps_contract_dtypes(store) -> None:
    frame = load_frame()  # spans 2023 and 2024: two yearly partitions / monthly partitions
    assert store.write_load(frame) == WriteCounts(inserted=len(frame))
    back = store.read_load("DEL")
    assert list(back.columns) == list(LOAD_SCHEMA.names)
    assert str(back["ts"].dtype) == UTC and back["load_mw"].dtype == "float64"
    assert all(back[flag].dtype == bool for flag in ("imputed", "load_shedding", "outlier"))
    assert_frame_equal(back.astype({"city": object}), frame.astype({"city": object}), check_dtype=False)
    assert back["imputed"].sum() == frame["imputed"].sum() > 0


def test_upsert_counts_inserted_updated_unchanged(store) -> None:
    frame = load_frame()
    store.write_load(frame)
    assert store.write_load(frame) == WriteCounts(unchanged=len(frame))
    changed = frame.copy()
    changed.loc[[3, 200], "load_mw"] += 1.0
    changed.loc[10, "outlier"] = True
    extra = load_frame(start="2024-01-04 00:00", periods=5)
    counts = store.write_load(pd.concat([changed, extra], ignore_index=True))
    assert counts == WriteCounts(inserted=5, updated=3, unchanged=len(frame) - 3)
    back = store.read_load("DEL")
    assert len(back) == len(frame) + 5
    assert back.set_index("ts").loc[frame["ts"][3], "load_mw"] == changed.loc[3, "load_mw"]
    assert bool(back.set_index("ts").loc[frame["ts"][10], "outlier"]) is True


def test_reads_are_filtered_by_city_and_range(store) -> None:
    store.write_load(load_frame())
    store.write_load(load_frame(city="MUM", periods=10))
    start, end = pd.Timestamp("2023-12-31 23:00", tz="UTC"), pd.Timestamp("2024-01-01 01:00", tz="UTC")
    window = store.read_load("DEL", start, end)
    assert len(window) == 8 and window["ts"].min() == start and window["ts"].max() < end
    assert set(window["city"]) == {"DEL"}
    assert len(store.read_load("DEL", start=pd.Timestamp("2024-01-02", tz="UTC"))) == 2 * 96
    assert len(store.read_load("DEL", end=pd.Timestamp("2023-12-31 01:00", tz="Asia/Kolkata"))) == 0
    assert store.read_load("NOPE").empty
    assert store.cities() == ["DEL", "MUM"]
    assert store.resolution_minutes("DEL") == 15


def test_load_span_gives_first_and_last_stored_block_across_years(store) -> None:
    store.write_load(load_frame())  # 2023-12-31 00:00 .. 2024-01-03 23:45 UTC: two year partitions
    first, last = pd.Timestamp("2023-12-31 00:00", tz="UTC"), pd.Timestamp("2024-01-03 23:45", tz="UTC")
    assert store.load_span("del") == (first, last)
    assert store.load_span("DEL", before=pd.Timestamp("2024-01-01 00:00", tz="UTC")) == (first, pd.Timestamp("2023-12-31 23:45", tz="UTC"))
    assert store.load_span("DEL", before=pd.Timestamp("2024-01-02 06:00", tz="Asia/Kolkata")) == (first, pd.Timestamp("2024-01-02 00:15", tz="UTC"))
    assert store.load_span("DEL", before=first) is None
    assert store.load_span("NOPE") is None


def test_weather_keys_include_kind_and_issue_time(store) -> None:
    frame = weather_frame()
    assert store.write_weather(frame) == WriteCounts(inserted=len(frame))
    assert store.write_weather(frame) == WriteCounts(unchanged=len(frame))
    observed = store.read_weather("DEL")
    assert list(observed.columns) == list(WEATHER_SCHEMA.names)
    assert len(observed) == 2 * 96 and observed["issued_at"].isna().all()
    assert observed["cloud_cover_pct"].isna().all() and str(observed["ts"].dtype) == UTC
    forecast = store.read_weather("DEL", kind="forecast")
    assert len(forecast) == 8 and (forecast["issued_at"] == pd.Timestamp("2023-12-30 12:00", tz="UTC")).all()
    warmer = frame.copy()
    warmer.loc[0, "temperature_c"] = 99.0 - 60.0
    assert store.write_weather(warmer).updated == 1


def test_failed_batch_stores_nothing(store) -> None:
    frame = load_frame()
    store.write_load(frame.head(96))
    try:
        with store.staged():
            store.write_load(frame)
            store.write_weather(weather_frame())
            raise RuntimeError("crash in the middle of a batch")
    except RuntimeError:
        pass
    assert len(store.read_load("DEL")) == 96
    assert store.read_weather("DEL").empty


# ----------------------------------------------------------------- the lake only


def test_open_store_without_database_is_the_lake(settings):
    store = open_store(settings)
    assert isinstance(store, LakeStore) and store.root == settings.lake_dir


def test_partitions_by_city_and_utc_year(settings):
    store = open_store(settings)
    store.write_load(load_frame())
    files = sorted(p.relative_to(settings.lake_dir).as_posix() for p in settings.lake_dir.rglob("*.parquet"))
    assert files == ["load/city=DEL/year=2023/data.parquet", "load/city=DEL/year=2024/data.parquet"]
    assert pq.read_table(settings.lake_dir / files[0]).num_rows == 96


def test_lake_reads_only_the_partitions_asked(settings):
    store = open_store(settings)
    store.write_load(load_frame())
    assert len(store.partition_files("load", "DEL")) == 2
    assert len(store.partition_files("load", "DEL", pd.Timestamp("2024-01-01", tz="UTC"))) == 1
    assert len(store.partition_files("load", "DEL", end=pd.Timestamp("2024-01-01", tz="UTC"))) == 1


def test_failed_lake_batch_leaves_no_temporary_files(settings):
    store = open_store(settings)
    with pytest.raises(RuntimeError):
        with store.staged():
            store.write_load(load_frame())
            raise RuntimeError("crash")
    leftovers = [p for p in settings.lake_dir.rglob("*") if p.name.endswith(".tmp")]
    assert leftovers == []


def test_supply_position_upserts_per_region(settings):
    store = open_store(settings)
    supply = pd.DataFrame(
        {"region": ["DL", "DL", "MH"], "date": ["2024-05-01", "2024-05-02", "2024-05-01"],
         "max_demand_met_mw": [7000.0, 7100.0, 25000.0], "energy_met_mu": [150.0, 152.0, 520.0],
         "shortage_mu": [0.0, 0.1, 0.0]}
    )
    assert store.write_supply(supply).inserted == 3
    assert store.write_supply(supply).unchanged == 3
    assert list(store.read_supply("DL")["max_demand_met_mw"]) == [7000.0, 7100.0]


# ------------------------------------------------------------ PostgreSQL only


def test_open_store_with_database_is_postgres(pg_settings):
    assert isinstance(open_store(pg_settings), PostgresStore)


def test_loader_creates_monthly_partitions_on_demand(pg_settings):
    store = open_store(pg_settings)
    store.write_load(load_frame(start="2023-12-31 00:00", periods=40 * 96))
    with psycopg.connect(pg_settings.database_dsn) as conn:
        parts = [
            row[0]
            for row in conn.execute(
                "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
                " WHERE i.inhparent = 'load'::regclass ORDER BY 1"
            )
        ]
        placed = conn.execute("SELECT count(*) FROM load_202401").fetchone()[0]
    assert parts == ["load_202312", "load_202401", "load_202402"]
    assert placed == 31 * 96


def test_overlapping_batch_takes_the_merge_path(pg_settings):
    store = open_store(pg_settings)
    first = load_frame(periods=96)
    store.write_load(first)
    later = pd.concat([first.iloc[48:], load_frame(start="2024-01-01 00:00", periods=48, seed=2)])  # half stored
    counts = store.write_load(later)
    assert (counts.inserted, counts.unchanged, counts.updated) == (48, 48, 0)
    assert len(store.read_load("DEL", end=pd.Timestamp("2024-01-02", tz="UTC"))) == 144


def test_new_months_are_built_then_attached_with_their_key(pg_settings):
    store = open_store(pg_settings)
    store.write_load(load_frame(start="2024-01-30 00:00", periods=3 * 96))  # January, then a new February
    with psycopg.connect(pg_settings.database_dsn) as conn:
        bounds = conn.execute("SELECT pg_get_expr(relpartbound, oid) FROM pg_class WHERE relname = 'load_202402'").fetchone()[0]
        checks = conn.execute(
            "SELECT conname FROM pg_constraint WHERE conrelid = 'load_202402'::regclass AND contype = 'c'"
        ).fetchall()
        with pytest.raises(psycopg.errors.UniqueViolation):
            conn.execute("INSERT INTO load (city, ts, load_mw) VALUES ('DEL', '2024-02-01 00:00+00', 1)")
    assert bounds == "FOR VALUES FROM ('2024-02-01 00:00:00+00') TO ('2024-03-01 00:00:00+00')"
    assert [name for (name,) in checks] == ["load_load_mw_check"]  # the bounds check used for ATTACH is gone
    assert len(store.read_load("DEL")) == 3 * 96
