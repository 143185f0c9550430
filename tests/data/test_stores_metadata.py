"""Metadata stores (files beside the lake, PostgreSQL tables): runs, quarantine, resolution, cities, alerts."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pandas as pd
import pytest

from data.catalogue import City
from data.records import IngestSummary
from data.stores import open_metadata
from data.stores.metadata import FileMetadataStore
from data.stores.postgres.metadata import PostgresMetadataStore


@pytest.fixture(params=["files", "postgres"])
def metadata(request):
    name = "settings" if request.param == "files" else "pg_settings"
    return open_metadata(request.getfixturevalue(name))


def _summary(run_id: str) -> IngestSummary:
    return IngestSummary(
        run_id=run_id, source="csv", path="/tmp/x.csv", cities=["DEL"], input_rows=5, accepted=3, repaired=1,
        rejected=1, inserted=4, repairs={"interpolated": 1}, rejections={"negative load": 1},
    )


def test_open_metadata_follows_settings(settings, pg_settings):
    assert isinstance(open_metadata(settings), FileMetadataStore)
    assert isinstance(open_metadata(pg_settings), PostgresMetadataStore)


def test_runs_are_listed_newest_first_with_their_summary(metadata):
    start = datetime(2024, 1, 1, tzinfo=timezone.utc)
    metadata.record_run(_summary("run-a"), start, start + timedelta(seconds=3))
    metadata.record_run(_summary("run-b"), start + timedelta(minutes=1), start + timedelta(minutes=2))
    runs = metadata.runs()
    assert [r["run_id"] for r in runs] == ["run-b", "run-a"]
    assert runs[0]["rejections"] == {"negative load": 1} and runs[0]["input_rows"] == 5
    assert metadata.runs(limit=1)[0]["run_id"] == "run-b"


def test_quarantine_keeps_line_field_reason_and_raw_text(metadata):
    start = datetime(2024, 1, 1, tzinfo=timezone.utc)
    metadata.record_run(_summary("run-q"), start, start)
    rows = pd.DataFrame(
        {"line": [7, 9], "city": ["DEL", "MUM"], "ts": [pd.Timestamp("2024-01-01", tz="UTC"), pd.NaT],
         "field": ["load_mw", "timestamp"], "reason": ["negative load", "unparseable timestamp"],
         "raw": ["2024-01-01T05:30,-4", "yesterday,100"]}
    )
    assert metadata.add_quarantine("run-q", rows) == 2
    delhi = metadata.quarantine(city="DEL")
    assert len(delhi) == 1 and delhi.iloc[0]["line"] == 7 and delhi.iloc[0]["raw"] == "2024-01-01T05:30,-4"
    assert delhi.iloc[0]["ts"] == pd.Timestamp("2024-01-01", tz="UTC") and delhi.iloc[0]["run_id"] == "run-q"
    assert len(metadata.quarantine()) == 2
    assert metadata.quarantine_counts() == {"DEL": 1, "MUM": 1}


def test_resolution_per_city(metadata):
    assert metadata.resolution("DEL") is None
    metadata.set_resolution("del", 30)
    metadata.set_resolution("DEL", 15)
    assert metadata.resolution("DEL") == 15


def test_cities_upsert_and_list(metadata):
    city = City(code="OSL", name="Oslo", country="NO", latitude=59.9, longitude=10.75, timezone="Europe/Oslo", peak_mw=1800)
    metadata.upsert_city(city)
    metadata.upsert_city(city.model_copy(update={"peak_mw": 1900.0}))
    stored = {c.code: c for c in metadata.cities()}
    assert stored["OSL"].peak_mw == 1900.0 and stored["OSL"].timezone == "Europe/Oslo"


def test_alerts_are_added_and_listed(metadata):
    first = metadata.add_alert("drift", "MAPE doubled", city="del", details={"mape": 0.12})
    second = metadata.add_alert("stale", "no data", severity="critical")
    assert second > first
    assert [a["kind"] for a in metadata.alerts()] == ["stale", "drift"]
    delhi = metadata.alerts(city="DEL")
    assert len(delhi) == 1 and delhi[0]["details"] == {"mape": 0.12} and delhi[0]["severity"] == "warning"
    with pytest.raises(ValueError):
        metadata.add_alert("drift", "x", severity="loud")


def test_a_partial_last_line_of_runs_jsonl_is_skipped_and_the_next_append_is_whole(settings, caplog):
    """A crash mid-append leaves the start of a record without its newline (issue 11, finding 12)."""
    store = FileMetadataStore(settings.metadata_dir)
    start = datetime(2024, 1, 1, tzinfo=timezone.utc)
    store.record_run(_summary("run-a"), start, start)
    with open(settings.metadata_dir / "runs.jsonl", "a", encoding="utf-8") as handle:
        handle.write('{"run_id": "run-crashed", "source": "cs')  # the process died here
    with caplog.at_level("WARNING", logger="data.stores.metadata"):
        assert [r["run_id"] for r in store.runs()] == ["run-a"]
        assert [r["run_id"] for r in store.runs()] == ["run-a"]
    warnings = [r.getMessage() for r in caplog.records if "partial last line" in r.getMessage()]
    assert len(warnings) == 1 and "runs.jsonl" in warnings[0]  # logged once, naming the file
    store.record_run(_summary("run-b"), start, start)
    assert [r["run_id"] for r in store.runs()] == ["run-b", "run-a"]
    text = (settings.metadata_dir / "runs.jsonl").read_text(encoding="utf-8")
    assert "run-crashed" not in text and text.endswith("\n")  # the fragment was dropped, not glued to run-b
