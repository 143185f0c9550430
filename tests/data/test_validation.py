"""Each validation rule and repair on small hand-made series, and on real connector output."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from data.catalogue import Catalogue
from data.connectors import read_csv, read_open_meteo, read_psp, read_sldc
from data.errors import PlatformError
from data.records import SourceBatch
from data.settings import REPO_ROOT
from data.synthetic import generate_city
from data.validation import ValidationRules, load_rules, validate

SOURCES = Path(__file__).resolve().parent.parent / "fixtures" / "sources"
CATALOGUE = Catalogue(REPO_ROOT / "configs" / "cities.yaml", REPO_ROOT / "no-overlay.yaml")
START = pd.Timestamp("2024-03-01 00:00", tz="Asia/Kolkata")


def _batch(values, *, step_minutes=15, city="DEL", ts=None, shedding=None) -> SourceBatch:
    n = len(values)
    stamps = ts if ts is not None else [START + pd.Timedelta(minutes=step_minutes * i) for i in range(n)]
    frame = pd.DataFrame({
        "line": np.arange(2, n + 2, dtype=np.int64),
        "city": pd.Series([city] * n, dtype="string"),
        "ts": pd.Series(stamps).dt.tz_convert("UTC").astype("datetime64[us, UTC]"),
        "load_mw": np.asarray(values, dtype=float),
        "load_shedding": shedding if shedding is not None else np.zeros(n, dtype=bool),
    })
    return SourceBatch("csv", "t.csv", frame, pd.DataFrame())


def _smooth(n: int) -> np.ndarray:
    return 3000 + 400 * np.sin(np.arange(n) / 10.0)


def test_rules_come_from_the_yaml_file(tmp_path):
    assert load_rules().spike_threshold == ValidationRules().spike_threshold
    bad = tmp_path / "validation.yaml"
    bad.write_text("spike_treshold: 0.3\n", encoding="utf-8")
    with pytest.raises(PlatformError, match="spike_treshold"):
        load_rules(bad)


def test_clean_series_is_accepted_unchanged():
    values = _smooth(40)
    outcome = validate(_batch(values), CATALOGUE)
    assert (outcome.accepted, outcome.repaired, outcome.rejected) == (40, 0, 0)
    np.testing.assert_allclose(outcome.load["load_mw"], values)
    assert outcome.resolution_minutes == {"DEL": 15}
    assert not outcome.load[["imputed", "load_shedding", "outlier"]].any().any()


def test_spike_is_clipped_to_the_neighbours_and_flagged():
    values = _smooth(40)
    values[20] *= 2.5
    outcome = validate(_batch(values), CATALOGUE)
    assert outcome.repairs == {"spike_clipped": 1} and outcome.repaired == 1
    row = outcome.load.iloc[20]
    assert row["outlier"] and abs(row["load_mw"] - _smooth(40)[20]) < 50


def test_flatline_is_flagged_but_kept():
    values = _smooth(40)
    values[10:22] = values[10]  # 3 hours stuck
    outcome = validate(_batch(values), CATALOGUE)
    assert outcome.repairs == {"flatline_flagged": 11}
    assert outcome.load["outlier"].sum() == 11 and not outcome.load["outlier"].iloc[10]


def test_short_gap_interpolated_long_gap_left():
    values = _smooth(60)
    keep = np.ones(60, dtype=bool)
    keep[10:14] = False  # 1 hour: filled
    keep[30:45] = False  # 3.75 hours: left open
    stamps = [START + pd.Timedelta(minutes=15 * i) for i in range(60)]
    batch = _batch(values[keep], ts=[s for s, k in zip(stamps, keep) if k])
    outcome = validate(batch, CATALOGUE)
    assert outcome.input_rows == keep.sum() == outcome.accepted
    assert outcome.repairs == {"gap_interpolated": 4}
    load = outcome.load.set_index("ts")
    filled = load.loc[stamps[10]:stamps[13]]
    assert len(filled) == 4 and filled["imputed"].all()
    assert len(outcome.load) == keep.sum() + 4


def test_duplicates_merged_when_close_conflicting_ones_rejected():
    values = list(_smooth(20))
    stamps = [START + pd.Timedelta(minutes=15 * i) for i in range(20)]
    batch = _batch(values[:5] + [values[4] * 1.001] + values[5:] + [values[10] * 1.5],
                   ts=stamps[:5] + [stamps[4]] + stamps[5:] + [stamps[10]])
    outcome = validate(batch, CATALOGUE)
    assert outcome.input_rows == 22 == outcome.accepted + outcome.repaired + outcome.rejected
    assert outcome.repairs == {"duplicate_merged": 2, "duplicate_first_kept": 1}
    assert outcome.rejections == {"duplicate_conflict": 1}
    reason = outcome.quarantine["reason"].iloc[0]
    assert reason.startswith("line 23, column 'timestamp': duplicate timestamp conflicts with line 13")
    assert len(outcome.load) == 20 and outcome.load["ts"].is_unique


def test_negative_implausible_unknown_city_and_off_grid_rows_are_rejected():
    values = _smooth(12)
    values[3] = -5.0
    values[6] = 50_000.0
    batch = _batch(values)
    batch.load.loc[8, "city"] = "ATL"
    batch.load.loc[10, "ts"] = batch.load.loc[10, "ts"] + pd.Timedelta(minutes=7)
    outcome = validate(batch, CATALOGUE)
    reasons = outcome.quarantine.set_index("line")["reason"]
    assert reasons[5] == "line 5, column 'load_mw': negative load_mw -5.0"
    assert reasons[8].startswith("line 8, column 'load_mw': implausible load_mw 50000.0 above 2.5 x peak_mw")
    assert reasons[10] == "line 10, column 'city': unknown city 'ATL' (not in the catalogue)"
    assert "not on the 15-minute grid" in reasons[12]
    assert outcome.rejections == {"negative_load": 1, "implausible_load": 1, "unknown_city": 1,
                                  "off_grid_timestamp": 1}


def test_load_shedding_is_kept_and_not_mistaken_for_a_spike():
    values = _smooth(40)
    shedding = np.zeros(40, dtype=bool)
    shedding[15:23] = True
    values[15:23] *= 0.8
    outcome = validate(_batch(values, shedding=shedding), CATALOGUE)
    assert outcome.accepted == 40
    assert outcome.load["load_shedding"].sum() == 8 and not outcome.load["outlier"].any()


def test_thirty_minute_series_keeps_its_resolution_hourly_stays_hourly():
    outcome = validate(_batch(_smooth(16), step_minutes=30, city="MUM"), CATALOGUE)
    assert outcome.resolution_minutes == {"MUM": 30} and len(outcome.load) == 16
    outcome = validate(_batch(_smooth(16), step_minutes=60, city="MUM"), CATALOGUE)
    assert outcome.resolution_minutes == {"MUM": 60}


def test_sldc_five_minutes_become_fifteen_minute_means():
    batch = read_sldc(SOURCES / "sldc_delhi_2024-05-01.csv", catalogue=CATALOGUE)
    outcome = validate(batch, CATALOGUE)
    assert outcome.input_rows == 24 == outcome.accepted
    assert outcome.resolution_minutes == {"DEL": 15} and len(outcome.load) == 8
    assert outcome.load["load_mw"].iloc[0] == pytest.approx((5200 + 5203 + 5206) / 3)
    assert outcome.load["ts"].iloc[1] == pd.Timestamp("2024-05-01 00:15", tz="Asia/Kolkata")


def test_csv_with_bad_rows_reconciles_and_quarantines_line_and_column():
    outcome = validate(read_csv(SOURCES / "load_bad_rows.csv", catalogue=CATALOGUE), CATALOGUE)
    assert (outcome.input_rows, outcome.rejected) == (12, 2)
    assert outcome.input_rows == outcome.accepted + outcome.repaired + outcome.rejected
    assert list(outcome.quarantine["reason"]) == [
        "line 5, column 'load_mw': unparseable number 'abc'",
        "line 8, column 'timestamp': unparseable timestamp '2024-05-01T25:61:00'",
    ]
    assert outcome.quarantine["raw"].iloc[0] == "2024-05-01T00:45:00,DEL,abc,30.9,43"
    # The two missing blocks are interpolated; weather of rejected rows is not stored.
    assert outcome.load["imputed"].sum() == 2 and len(outcome.load) == 12
    assert len(outcome.weather) == 10


def test_open_meteo_out_of_range_humidity_is_refused_alone():
    outcome = validate(read_open_meteo(SOURCES / "open_meteo_delhi.json", city="DEL"), CATALOGUE)
    assert (outcome.input_rows, outcome.accepted, outcome.repaired) == (24, 23, 1)
    assert outcome.repairs == {"weather_out_of_range_nulled": 1}
    row = outcome.weather.iloc[5]
    assert np.isnan(row["relative_humidity_pct"]) and row["temperature_c"] > 0
    assert len(outcome.load) == 0


def test_psp_rows_validated_into_the_supply_frame():
    outcome = validate(read_psp(SOURCES / "psp_2024-05-01.csv"), CATALOGUE)
    assert (outcome.input_rows, outcome.accepted, outcome.rejected) == (9, 7, 2)
    assert list(outcome.supply.columns) == ["region", "date", "max_demand_met_mw", "energy_met_mu", "shortage_mu"]
    assert outcome.rejections == {"unknown_state": 1, "unparseable_number": 1}


def test_synthetic_faults_are_caught_and_the_grid_comes_out_whole():
    batch = generate_city(CATALOGUE.get("DEL"), dt.date(2023, 1, 1), 120, seed=9, fault_rate=0.03)
    outcome = validate(batch, CATALOGUE)
    assert outcome.input_rows == len(batch.load) == outcome.accepted + outcome.repaired + outcome.rejected
    faults = batch.load["fault"].astype(str)
    load = outcome.load.set_index("ts")
    spikes = batch.load.loc[faults == "spike", "ts"]
    caught = load.loc[spikes[spikes.isin(load.index)], "outlier"]
    assert caught.mean() > 0.8
    assert outcome.repairs["duplicate_merged"] == 2 * (faults == "duplicate").sum()
    assert load["load_shedding"].sum() == batch.load.loc[faults == "shedding", "ts"].nunique()
    assert load.index.is_unique and load.index.is_monotonic_increasing
    # Gaps of up to 2 h are interpolated; what is left open is longer (overlapping faults).
    steps = load.index.to_series().diff().dropna()
    assert ((steps == pd.Timedelta(minutes=15)) | (steps > pd.Timedelta(hours=2))).all()
    assert len(load) > 0.99 * 120 * 96 and load["imputed"].sum() > 0


def test_out_of_range_weather_in_a_load_row_repairs_the_row(tmp_path):
    path = tmp_path / "combined.csv"
    path.write_text("timestamp,city,load_mw,temperature_c,relative_humidity_pct\n"
                    "2024-05-01T00:00:00,DEL,4100,31.0,40\n2024-05-01T00:15:00,DEL,4090,75.0,41\n"
                    "2024-05-01T00:30:00,DEL,4080,30.8,42\n", encoding="utf-8")
    outcome = validate(read_csv(path, catalogue=CATALOGUE), CATALOGUE)
    assert (outcome.accepted, outcome.repaired, outcome.rejected) == (2, 1, 0)
    assert outcome.repairs == {"weather_out_of_range_nulled": 1}
    assert np.isnan(outcome.weather["temperature_c"].iloc[1]) and outcome.weather["relative_humidity_pct"].iloc[1] == 41
    assert len(outcome.load) == 3


def test_points_across_a_long_gap_are_not_judged_against_another_time_of_day():
    values = _smooth(40)
    stamps = [START + pd.Timedelta(minutes=15 * i) for i in range(20)]
    stamps += [START + pd.Timedelta(hours=12, minutes=15 * i) for i in range(20)]
    values[20:] *= 2.5  # the evening is much higher than the night before the gap
    outcome = validate(_batch(values, ts=stamps), CATALOGUE)
    assert outcome.accepted == 40 and not outcome.load["outlier"].any()
