"""Ray for the data layer on the session's real Ray: parallel per-city ingest and the
history Dataset with one block per city."""

from __future__ import annotations

import datetime as dt

import pandas as pd

from data.distributed import generate_and_ingest, history_dataset
from data.stores import open_store


def test_parallel_ingest_then_history_grouped_per_city(ray_cluster, settings):
    def describe_block(block: pd.DataFrame) -> pd.DataFrame:  # nested: shipped to workers by value
        return pd.DataFrame({"city": [block["city"].iloc[0]], "cities_in_block": [block["city"].nunique()],
                             "rows": [len(block)], "has_temperature": [bool(block["temperature_c"].notna().any())]})

    lines: list[str] = []
    summaries = generate_and_ingest(settings, ["DEL", "CHE"], dt.date(2024, 5, 1), 2, seed=3, fault_rate=0.0,
                                    progress=lines.append)
    assert [s.cities for s in summaries] == [["DEL"], ["CHE"]] and len(lines) == 2
    assert all(s.reconciles() and s.inserted == 2 * 96 for s in summaries)
    store = open_store(settings)
    dataset = history_dataset(settings, ["DEL", "CHE"])
    blocks = dataset.map_batches(describe_block, batch_size=None, batch_format="pandas").take_all()
    by_city = {row["city"]: row for row in blocks}
    assert set(by_city) == {"DEL", "CHE"}
    for code, row in by_city.items():
        assert row["cities_in_block"] == 1 and row["rows"] == len(store.read_load(code)) and row["has_temperature"]
    start, end = pd.Timestamp("2024-05-01 00:00", tz="UTC"), pd.Timestamp("2024-05-01 06:00", tz="UTC")
    window = history_dataset(settings, ["DEL"], start, end).to_pandas()
    assert len(window) == 24 and window["ts"].min() == start and window["ts"].max() < end
