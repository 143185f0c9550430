"""Ray for the data layer on the session's real Ray: parallel per-city ingest, one task per city."""

from __future__ import annotations

import datetime as dt

from data.distributed import generate_and_ingest
from data.stores import open_store


def test_parallel_ingest_stores_every_city_with_a_line_each(ray_cluster, settings):
    lines: list[str] = []
    summaries = generate_and_ingest(settings, ["DEL", "CHE"], dt.date(2024, 5, 1), 2, seed=3, fault_rate=0.0,
                                    progress=lines.append)
    assert [s.cities for s in summaries] == [["DEL"], ["CHE"]] and len(lines) == 2
    assert all(s.reconciles() and s.inserted == 2 * 96 for s in summaries)
    store = open_store(settings)
    for code in ("DEL", "CHE"):
        assert len(store.read_load(code)) == 2 * 96
        assert store.read_weather(code)["temperature_c"].notna().any()
