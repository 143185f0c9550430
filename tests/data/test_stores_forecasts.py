"""Forecast stores (Parquet beside the lake, PostgreSQL tables of migration 0005), and the
alert resolution both metadata stores keep."""

from __future__ import annotations

from datetime import date, datetime, timezone

import pandas as pd
import pytest
from pydantic import ValidationError

from data.stores import open_forecasts, open_metadata
from data.stores.forecasts import FileForecastStore, ForecastPoint, StoredForecast, blocks_of
from data.stores.postgres.forecasts import PostgresForecastStore


@pytest.fixture(params=["files", "postgres"])
def which(request):
    return request.getfixturevalue("settings" if request.param == "files" else "pg_settings")


def _forecast(city: str = "DEL", *, day: str = "2024-04-10", version: str = "v1", scale: float = 1.0,
              blocks: int = 96, as_of: str = "2024-04-09T04:30:00Z") -> StoredForecast:
    stamps = pd.date_range(pd.Timestamp(day, tz="Asia/Kolkata"), periods=blocks, freq="15min").tz_convert("UTC")
    points = [ForecastPoint(ts=ts.to_pydatetime(), p10=900 * scale, p50=1000 * scale + i, p90=1100 * scale + 2 * i)
              for i, ts in enumerate(stamps)]
    issued = pd.Timestamp(as_of).to_pydatetime()
    return StoredForecast(city=city, target_day=date.fromisoformat(day), as_of=issued, model_version=version,
                          issued_at=datetime.now(timezone.utc), lead_hours=(stamps[0] - pd.Timestamp(as_of)) / pd.Timedelta(hours=1),
                          degraded=False, source="scheduled", points=points)


def test_open_forecasts_follows_settings(settings, pg_settings) -> None:
    assert isinstance(open_forecasts(settings), FileForecastStore)
    assert isinstance(open_forecasts(pg_settings), PostgresForecastStore)


def test_a_forecast_is_kept_once_per_city_day_issue_time_and_version(which) -> None:
    store = open_forecasts(which)
    assert store.write([_forecast(), _forecast("MUM")]) == 2
    assert store.write([_forecast(scale=1.1)]) == 0  # same key: blocks updated, nothing added
    assert store.write([_forecast(version="v2")]) == 1
    listed = store.list("del")
    assert [(s.model_version, s.blocks, s.target_day) for s in listed] in (
        [("v1", 96, date(2024, 4, 10)), ("v2", 96, date(2024, 4, 10))],
        [("v2", 96, date(2024, 4, 10)), ("v1", 96, date(2024, 4, 10))])
    assert listed[0].lead_hours == pytest.approx(14.0) and listed[0].source == "scheduled"
    blocks = store.read("DEL", pd.Timestamp("2024-04-09T18:30:00Z"), pd.Timestamp("2024-04-09T19:00:00Z"))
    assert len(blocks) == 4 and set(blocks["model_version"]) == {"v1", "v2"}
    updated = blocks[blocks["model_version"] == "v1"]
    assert updated["p50"].tolist() == [1100.0, 1101.0]  # the rerun's values
    assert str(blocks["ts"].dt.tz) == "UTC" and sorted(store.cities()) == ["DEL", "MUM"]


def test_a_forecast_with_crossed_quantiles_or_a_naive_issue_time_is_refused() -> None:
    good = _forecast()
    with pytest.raises(ValidationError, match="P10 <= P50 <= P90"):
        StoredForecast(**{**good.model_dump(), "points": [{"ts": good.points[0].ts, "p10": 5, "p50": 4, "p90": 6}]})
    with pytest.raises(ValidationError, match="timezone"):
        StoredForecast(**{**good.model_dump(), "as_of": datetime(2024, 4, 9, 10)})


def test_block_rows_with_crossed_quantiles_are_refused_whole_and_leave_the_store_as_it_was(which) -> None:
    store = open_forecasts(which)
    assert store.write([_forecast()]) == 1
    before = store.read("DEL")
    rows = blocks_of([_forecast(version="v2"), _forecast("MUM")])
    crossed = (rows["city"] == "MUM") & (rows["ts"] == pd.Timestamp("2024-04-09T19:30:00Z"))  # MUM's fifth block
    rows.loc[crossed, ["p10", "p50"]] = [1500.0, 1400.0]
    with pytest.raises(ValueError, match=r"P10 <= P50 <= P90 fails at MUM 2024-04-09 19:30:00\+00:00 \(model v1\)"):
        store.write_blocks(rows)
    pd.testing.assert_frame_equal(store.read("DEL"), before)
    assert store.read("MUM").empty and store.cities() == ["DEL"]
    with pytest.raises(ValueError, match="missing column"):
        store.write_blocks(rows.drop(columns=["as_of"]))


def test_block_rows_are_stored_as_the_records_they_were_made_from(which) -> None:
    store = open_forecasts(which)
    delhi, mumbai = [_forecast(), _forecast(day="2024-04-11")], _forecast("MUM", version="v2")
    assert store.write_blocks(blocks_of(delhi)) == 2
    assert store.write([mumbai]) == 1
    pd.testing.assert_frame_equal(store.read("DEL"), blocks_of(delhi))
    pd.testing.assert_frame_equal(store.read("MUM"), blocks_of([mumbai]))
    assert store.write_blocks(blocks_of(delhi)) == 0  # the same forecasts again: nothing new


def test_an_alert_is_resolved_once_and_open_alerts_leave_it_out(which) -> None:
    metadata = open_metadata(which)
    first = metadata.add_alert("forecast_error", "MAPE 25 % > 10 %", city="DEL", details={"value": 25.0})
    second = metadata.add_alert("drift", "PSI 0.4 > 0.25", city="DEL")
    metadata.resolve_alert(first)
    resolved_at = metadata.alerts()[1]["resolved_at"]
    metadata.resolve_alert(first)
    assert resolved_at is not None and metadata.alerts()[1]["resolved_at"] == resolved_at
    assert [a["id"] for a in metadata.alerts(open_only=True)] == [second]
    assert [a["id"] for a in metadata.alerts(city="DEL")] == [second, first]


def test_file_store_appends_parts_and_compacts_them_without_changing_what_is_read(settings) -> None:
    """A write adds one part instead of rewriting the year; past the bound the parts fold into the base,
    and a second store on the same folder (another process) still sees every stored key."""
    store = open_forecasts(settings)
    days = [str(d.date()) for d in pd.date_range("2024-04-01", periods=FileForecastStore.COMPACT_AFTER + 4)]
    assert store.write([_forecast(day=days[0])]) == 1
    year = store.root / "city=DEL" / "year=2024"
    first_part = sorted(year.glob("part-*.parquet"))
    for day in days[1:5]:
        assert store.write([_forecast(day=day)]) == 1
    assert set(first_part) < set(year.glob("part-*.parquet"))  # earlier parts untouched, one more per write
    for day in days[5:]:
        assert store.write([_forecast(day=day)]) == 1
    assert (year / "data.parquet").exists() and len(list(year.glob("part-*.parquet"))) <= FileForecastStore.COMPACT_AFTER
    other = open_forecasts(settings)
    assert other.write([_forecast(day=days[0], scale=1.2)]) == 0  # stored before the compaction: an update
    assert store.write([_forecast(day=days[-1], version="v2")]) == 1
    listed = store.list("DEL", limit=1000)
    assert len(listed) == len(days) + 1 and all(s.blocks == 96 for s in listed)
    first_day = store.read("DEL", pd.Timestamp(days[0], tz="Asia/Kolkata"), pd.Timestamp(days[1], tz="Asia/Kolkata"))
    assert first_day["p50"].iloc[0] == 1200.0 and len(first_day) == 96  # the newest values, once per block
