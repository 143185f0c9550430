"""Large files are read in chunks of ``ingest.chunk_rows`` (issue 11, finding 13): the text
and cells of one chunk at a time, never the whole file, and with exactly the rows, counts
and quarantine of reading the file whole. Real files, real lakes, no mocks."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from data.catalogue import load_catalogue
from data.connectors import CONNECTORS
from data.connectors.tabular import iter_csv, iter_parquet, read_csv
from data.pipeline import ingest
from data.settings import load_settings
from data.stores import open_metadata, open_store

ROWS = 1_000
SMALL_CHUNK = 64


def _frame() -> pd.DataFrame:
    """Ten days of Delhi at 15 minutes with faults that cross chunk boundaries: a duplicate of
    the first row of a chunk at the end of the one before, a spike, a bad value and a gap."""
    ts = pd.date_range("2024-03-01", periods=ROWS, freq="15min", tz="Asia/Kolkata")
    load = 4000 + 600 * np.sin(np.arange(ROWS) / 96 * 2 * np.pi)
    frame = pd.DataFrame({"timestamp": ts, "load_mw": load.round(1).astype(str), "temperature_c": "21.5"})
    frame.loc[SMALL_CHUNK * 3, "load_mw"] = "9000"  # a spike, first row of a chunk
    frame.loc[SMALL_CHUNK * 5 + 7, "load_mw"] = "n/a"
    frame = frame.drop(index=range(SMALL_CHUNK * 7 - 2, SMALL_CHUNK * 7 + 2))  # a one-hour gap across a boundary
    duplicate = frame.iloc[[SMALL_CHUNK * 2]]
    return pd.concat([frame.iloc[: SMALL_CHUNK * 2 - 1], duplicate, frame.iloc[SMALL_CHUNK * 2 - 1:]], ignore_index=True)


@pytest.fixture()
def csv_path(tmp_path):
    path = tmp_path / "delhi.csv"
    frame = _frame()
    frame["timestamp"] = frame["timestamp"].map(lambda t: t.isoformat())
    frame.to_csv(path, index=False)
    return path


def _ingest(tmp_path, name: str, source: str, path, chunk_rows: int):
    settings = load_settings(data_dir=tmp_path / name, environment="test", ingest={"chunk_rows": chunk_rows})
    catalogue = load_catalogue(settings)
    batch = CONNECTORS[source](path, city="DEL", catalogue=catalogue, chunk_rows=settings.ingest.chunk_rows)
    summary = ingest(batch, settings, catalogue=catalogue)
    quarantine = open_metadata(settings).quarantine().drop(columns="run_id").sort_values("line", ignore_index=True)
    return summary, open_store(settings), quarantine


@pytest.mark.parametrize("source", ["csv", "parquet"])
def test_a_file_ingested_in_chunks_stores_exactly_what_a_whole_read_stores(tmp_path, csv_path, source):
    path = csv_path
    if source == "parquet":
        path = tmp_path / "delhi.parquet"
        pq.write_table(pa.Table.from_pandas(_frame(), preserve_index=False), path)
    whole, whole_store, whole_quarantine = _ingest(tmp_path, "whole", source, path, 10 * ROWS)
    chunked, chunked_store, chunked_quarantine = _ingest(tmp_path, "chunked", source, path, SMALL_CHUNK)
    assert whole.rejected >= 1 and whole.repaired >= 3  # the faults were seen ...
    fields = lambda s: s.model_dump(exclude={"run_id", "path"})  # noqa: E731
    assert fields(chunked) == fields(whole)  # ... and judged the same way across chunk boundaries
    pd.testing.assert_frame_equal(chunked_store.read_load("DEL"), whole_store.read_load("DEL"))
    pd.testing.assert_frame_equal(chunked_store.read_weather("DEL"), whole_store.read_weather("DEL"))
    pd.testing.assert_frame_equal(chunked_quarantine, whole_quarantine)


def test_the_readers_yield_chunks_of_chunk_rows(tmp_path, csv_path):
    catalogue = load_catalogue(load_settings(data_dir=tmp_path / "var", environment="test"))
    rows = len(_frame())
    sizes = [len(b.load) for b in iter_csv(csv_path, chunk_rows=SMALL_CHUNK, city="DEL", catalogue=catalogue)]
    assert sizes == [SMALL_CHUNK] * (rows // SMALL_CHUNK) + [rows % SMALL_CHUNK]
    path = tmp_path / "delhi.parquet"
    pq.write_table(pa.Table.from_pandas(_frame(), preserve_index=False), path, row_group_size=rows)
    sizes = [len(b.load) for b in iter_parquet(path, chunk_rows=SMALL_CHUNK, city="DEL", catalogue=catalogue)]
    assert sizes == [SMALL_CHUNK] * (rows // SMALL_CHUNK) + [rows % SMALL_CHUNK]


def test_a_chunked_read_never_holds_the_whole_text(tmp_path):
    """Peak memory of reading a 4 MB CSV in chunks is a fraction of reading it whole."""
    path = tmp_path / "wide.csv"
    n = 20_000
    ts = pd.date_range("2024-03-01", periods=n, freq="15min", tz="UTC").strftime("%Y-%m-%dT%H:%M:%S+00:00")
    pd.DataFrame({"timestamp": ts, "load_mw": "4000.5", "note": "x" * 150}).to_csv(path, index=False)
    catalogue = load_catalogue(load_settings(data_dir=tmp_path / "var", environment="test"))

    def peak(chunk_rows: int) -> int:
        tracemalloc.start()
        try:
            batch = read_csv(path, city="DEL", catalogue=catalogue, chunk_rows=chunk_rows)
            assert len(batch.load) == n
            return tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()

    assert peak(2_000) < peak(n) / 2
