"""Property tests of the validation rules on arbitrary messy load and weather rows."""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import HealthCheck, given, settings, strategies as st

from data.catalogue import Catalogue
from data.records import SourceBatch
from data.schema import LOAD_COLUMNS, WEATHER_COLUMNS, WEATHER_RANGES
from data.settings import REPO_ROOT
from data.validation import QUARANTINE_COLUMNS, validate

CATALOGUE = Catalogue(REPO_ROOT / "configs" / "cities.yaml", REPO_ROOT / "no-overlay.yaml")
BASE = pd.Timestamp("2024-03-01 00:00", tz="Asia/Kolkata").tz_convert("UTC")

row = st.fixed_dictionaries({
    "city": st.sampled_from(["DEL", "MUM", "XYZ", None]),
    "block": st.integers(0, 40),
    "minute_offset": st.sampled_from([0, 0, 0, 0, 0, 7]),
    "load_mw": st.one_of(
        st.floats(500, 5000), st.floats(500, 5000), st.floats(500, 5000),
        st.just(float("nan")), st.floats(-100, -0.1), st.floats(30_000, 1e6), st.just(0.0),
    ),
    "shedding": st.booleans(),
    "nat": st.integers(0, 30),
})


def _load_frame(rows: list[dict]) -> pd.DataFrame:
    ts = [pd.NaT if r["nat"] == 0 else BASE + pd.Timedelta(minutes=15 * r["block"] + r["minute_offset"]) for r in rows]
    return pd.DataFrame({
        "line": np.arange(2, len(rows) + 2, dtype=np.int64),
        "city": pd.Series([r["city"] for r in rows], dtype="string"),
        "ts": pd.Series(ts, dtype="datetime64[us, UTC]"),
        "load_mw": [r["load_mw"] for r in rows],
        "load_shedding": [r["shedding"] for r in rows],
        "raw": [f"row {i}" for i in range(len(rows))],
    })


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(row, min_size=1, max_size=60))
def test_every_row_is_accounted_for_and_output_is_clean(rows):
    frame = _load_frame(rows)
    outcome = validate(SourceBatch("csv", "x.csv", frame, pd.DataFrame()), CATALOGUE)
    assert outcome.input_rows == len(frame) == outcome.accepted + outcome.repaired + outcome.rejected
    # Quarantine: one row per rejected line, naming line and field.
    quarantine = outcome.quarantine
    assert tuple(quarantine.columns) == QUARANTINE_COLUMNS
    assert len(quarantine) == outcome.rejected == sum(outcome.rejections.values())
    assert quarantine["line"].is_unique and set(quarantine["line"]) <= set(frame["line"])
    for line, field, reason in zip(quarantine["line"], quarantine["field"], quarantine["reason"]):
        assert reason.startswith(f"line {line}, column '{field}': ") and field
    # Nothing negative, missing, implausible or unknown gets through.
    load = outcome.load
    assert tuple(load.columns) == LOAD_COLUMNS
    assert str(load["ts"].dtype) == "datetime64[us, UTC]"
    assert all(load[flag].dtype == bool for flag in ("imputed", "load_shedding", "outlier"))
    assert (load["load_mw"] >= 0).all() and load["load_mw"].notna().all()
    assert set(load["city"]) <= {"DEL", "MUM"}
    assert (load["load_mw"] <= 2.5 * 8600).all()
    assert not load.duplicated(["city", "ts"]).any()
    assert load.equals(load.sort_values(["city", "ts"]).reset_index(drop=True))
    # Repaired rows are named (gap fills add rows, they repair none).
    named = sum(n for name, n in outcome.repairs.items() if name != "gap_interpolated")
    assert named >= outcome.repaired
    assert (outcome.repaired == 0) == (named == 0)


weather_row = st.fixed_dictionaries({
    "block": st.integers(0, 20),
    "temperature_c": st.one_of(st.floats(-80, 80), st.just(float("nan"))),
    "relative_humidity_pct": st.one_of(st.floats(-10, 150), st.just(float("nan"))),
    "city": st.sampled_from(["CHE", "CHE", "ZZZ"]),
})


@settings(max_examples=40, deadline=None)
@given(st.lists(weather_row, min_size=1, max_size=40))
def test_weather_values_outside_physical_ranges_never_pass(rows):
    frame = pd.DataFrame({
        "line": np.arange(1, len(rows) + 1, dtype=np.int64),
        "city": pd.Series([r["city"] for r in rows], dtype="string"),
        "ts": pd.Series([BASE + pd.Timedelta(hours=r["block"]) for r in rows], dtype="datetime64[us, UTC]"),
        "temperature_c": [r["temperature_c"] for r in rows],
        "relative_humidity_pct": [r["relative_humidity_pct"] for r in rows],
        "kind": "observed",
    })
    outcome = validate(SourceBatch("open-meteo", "w.json", pd.DataFrame(), frame), CATALOGUE)
    assert outcome.input_rows == len(rows) == outcome.accepted + outcome.repaired + outcome.rejected
    weather = outcome.weather
    assert tuple(weather.columns) == WEATHER_COLUMNS
    for name in ("temperature_c", "relative_humidity_pct"):
        low, high = WEATHER_RANGES[name]
        values = weather[name].dropna()
        assert ((values >= low) & (values <= high)).all()
    assert not weather.duplicated(["city", "ts", "kind"]).any()
    assert weather[["temperature_c", "relative_humidity_pct"]].notna().any(axis=1).all()
    assert set(weather["city"]) <= {"CHE"}


cell_timestamp = st.one_of(
    st.integers(0, 30).map(lambda i: f"2024-03-01T{i // 4:02d}:{i % 4 * 15:02d}:00"),
    st.integers(0, 30).map(lambda i: f"2024-03-01 {i // 4:02d}:{i % 4 * 15:02d}+05:30"),
    st.sampled_from(["", "yesterday", "2024-13-01T00:00", "2024-03-01T00:07:00"]),
)
cell_load = st.one_of(st.floats(0, 9000).map(lambda x: f"{x:.1f}"), st.sampled_from(["", "n/a", "-3", "1e9", "4,100"]))
cell_city = st.sampled_from(["DEL", "del", "MUM", "", "XYZ"])


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(cell_timestamp, cell_city, cell_load), min_size=1, max_size=30))
def test_any_csv_is_refused_whole_or_fully_accounted_for(tmp_path_factory, rows):
    from data.connectors import read_csv
    from data.errors import InputFileError

    path = tmp_path_factory.mktemp("csv") / "load.csv"
    lines = ["timestamp,city,load_mw"] + [",".join(f'"{c}"' if "," in c else c for c in row) for row in rows]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    try:
        batch = read_csv(path, catalogue=CATALOGUE)
    except InputFileError as error:
        assert str(path) in str(error) and "\n" not in str(error)
        return
    outcome = validate(batch, CATALOGUE)
    # A row whose cells are all empty (",,", what spreadsheets write for blank rows) is a
    # blank line, not an input row; every other row is accounted for.
    records = [row for row in rows if any(cell.strip() for cell in row)]
    assert outcome.input_rows == len(records) == outcome.accepted + outcome.repaired + outcome.rejected
    assert set(outcome.quarantine["line"]) <= set(range(2, len(rows) + 2))
    assert (outcome.load["load_mw"] >= 0).all() and not outcome.load.duplicated(["city", "ts"]).any()
