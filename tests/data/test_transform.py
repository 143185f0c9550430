"""Transformation helpers: resolution inference, resampling, gap filling, schema-exact frames."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa

from data.schema import LOAD_SCHEMA, WEATHER_SCHEMA
from data.transform import (conform_load, conform_weather, empty_load, empty_weather, fill_gaps, infer_resolution,
                            resample_mean, target_resolution)
from data.transform.resolution import MINUTE_US

T0 = pd.Timestamp("2024-01-01", tz="UTC").value // 1000


def _series(minutes: list[int], values: list[float], city: str = "DEL") -> pd.DataFrame:
    n = len(minutes)
    return pd.DataFrame({"city": [city] * n, "ts_us": T0 + np.asarray(minutes, dtype=np.int64) * MINUTE_US,
                         "load_mw": values, "imputed": False, "load_shedding": [False] * (n - 1) + [True],
                         "outlier": False})


def test_resolution_is_the_most_common_step():
    ts = T0 + np.array([0, 15, 30, 45, 60, 120, 135], dtype=np.int64) * MINUTE_US
    assert infer_resolution(ts) == 15
    assert infer_resolution(ts[::-1].copy()) == 15
    assert infer_resolution(ts[:1], default=30) == 30
    assert [target_resolution(m, (15, 30, 60)) for m in (5, 15, 30, 60, 45, 1)] == [15, 15, 30, 60, None, 15]


def test_five_minute_rows_average_into_fifteen_minute_blocks():
    frame = _series([0, 5, 10, 15, 20], [10.0, 20.0, 30.0, 40.0, 50.0])
    out = resample_mean(frame, {"DEL": 15})
    assert out["load_mw"].tolist() == [20.0, 45.0]
    assert out["load_shedding"].tolist() == [False, True]
    same = _series([0, 15], [1.0, 2.0])
    assert resample_mean(same, {"DEL": 15}) is same


def test_gaps_up_to_the_limit_are_interpolated():
    frame = _series([0, 15, 60, 75, 300], [100.0, 100.0, 160.0, 160.0, 100.0])
    out, created = fill_gaps(frame, {"DEL": 15}, max_gap_minutes=60)
    assert created == 2
    filled = out[out["imputed"]]
    assert filled["load_mw"].tolist() == [120.0, 140.0]
    assert len(out) == 7 and out["ts_us"].is_monotonic_increasing


def test_frames_convert_to_the_arrow_schemas_without_loss():
    load = conform_load(_series([0, 15], [1.0, 2.0]))
    table = pa.Table.from_pandas(load, schema=LOAD_SCHEMA, preserve_index=False)
    assert table.schema.equals(LOAD_SCHEMA) and table.num_rows == 2
    weather = conform_weather(pd.DataFrame({"city": ["DEL"], "ts": pd.to_datetime(["2024-01-01T00:00Z"]),
                                            "temperature_c": [21.5], "kind": ["observed"]}))
    table = pa.Table.from_pandas(weather, schema=WEATHER_SCHEMA, preserve_index=False)
    assert table.schema.equals(WEATHER_SCHEMA) and np.isnan(weather["dew_point_c"].iloc[0])
    assert len(empty_load()) == 0 and len(empty_weather()) == 0
    assert str(empty_load()["ts"].dtype) == "datetime64[us, UTC]"
