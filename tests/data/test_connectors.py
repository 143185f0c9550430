"""Each connector on fixture files in its source's documented shape, good and bad."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd
import pytest

from data.catalogue import Catalogue
from data.connectors import CONNECTORS, read_csv, read_open_meteo, read_parquet, read_psp, read_sldc
from data.errors import InputFileError
from data.settings import REPO_ROOT

SOURCES = Path(__file__).resolve().parent.parent / "fixtures" / "sources"


@pytest.fixture(scope="module")
def catalogue() -> Catalogue:
    return Catalogue(REPO_ROOT / "configs" / "cities.yaml", REPO_ROOT / "no-overlay.yaml")


def test_canonical_csv_reads_local_times_in_the_city_timezone(catalogue):
    batch = read_csv(SOURCES / "load_delhi_15min.csv", catalogue=catalogue)
    load = batch.load
    assert batch.source == "csv" and len(load) == 12 and load["error"].isna().all()
    assert load["line"].tolist() == list(range(2, 14))
    assert load["ts"].iloc[0] == pd.Timestamp("2024-05-01 00:00", tz="Asia/Kolkata")
    assert str(load["ts"].dtype) == "datetime64[us, UTC]"
    assert load["load_mw"].iloc[0] == 4100.5 and (load["city"] == "DEL").all()
    assert batch.weather["temperature_c"].iloc[0] == 31.5 and (batch.weather["kind"] == "observed").all()


def test_bad_rows_stay_rows_with_reason_and_column(catalogue):
    load = read_csv(SOURCES / "load_bad_rows.csv", catalogue=catalogue).load
    bad = load[load["error"].notna()].set_index("line")
    assert bad.loc[5, "error"] == "unparseable number 'abc'" and bad.loc[5, "error_field"] == "load_mw"
    assert "unparseable timestamp '2024-05-01T25:61:00'" == bad.loc[8, "error"]
    assert bad.loc[8, "error_field"] == "timestamp" and len(bad) == 2


def test_column_map_and_city_option(catalogue):
    batch = read_csv(SOURCES / "load_mapped_30min.csv", city="mum", catalogue=catalogue,
                     column_map={"Datetime": "timestamp", "Demand (MW)": "load_mw"})
    assert (batch.load["city"] == "MUM").all() and batch.load["error"].isna().all()
    assert batch.load["ts"].diff().dropna().eq(pd.Timedelta(minutes=30)).all()
    with pytest.raises(InputFileError, match="no 'city' column"):
        read_csv(SOURCES / "load_mapped_30min.csv", catalogue=catalogue,
                 column_map={"Datetime": "timestamp", "Demand (MW)": "load_mw"})


def test_default_timezone_overrides_the_city_zone(catalogue):
    batch = read_csv(SOURCES / "load_delhi_15min.csv", catalogue=catalogue, default_timezone="UTC")
    assert batch.load["ts"].iloc[0] == pd.Timestamp("2024-05-01 00:00", tz="UTC")


@pytest.mark.parametrize(
    "name, message, line",
    [
        ("load_missing_column.csv", "missing required column 'load_mw'", 1),
        ("empty.csv", "file is empty", None),
        ("load_header_only.csv", "no data rows after the header", 1),
        ("load_latin1.csv", "not UTF-8", 3),
        ("no_such_file.csv", "file not found", None),
    ],
)
def test_bad_csv_files_are_refused_naming_file_line_and_column(catalogue, name, message, line):
    with pytest.raises(InputFileError, match=message) as caught:
        read_csv(SOURCES / name, catalogue=catalogue)
    assert caught.value.line == line and name in str(caught.value)
    assert "\n" not in str(caught.value)


def test_row_with_wrong_field_count_is_a_row_error(tmp_path, catalogue):
    path = tmp_path / "ragged.csv"
    path.write_text("timestamp,city,load_mw\n2024-05-01T00:00,DEL,4000\n2024-05-01T00:15,DEL,4000,9\n", encoding="utf-8")
    load = read_csv(path, catalogue=catalogue).load
    assert load.loc[1, "error"] == "wrong number of fields (expected 3, found 4)" and load.loc[1, "line"] == 3


def test_parquet_typed_and_text_columns(tmp_path, catalogue):
    frame = pd.DataFrame({
        "timestamp": pd.date_range("2024-05-01", periods=4, freq="h"),  # naive: local time of the city
        "load": [1.0, 2.0, None, 4.0],
        "temperature_c": [30.0, 31.0, 32.0, 33.0],
    })
    path = tmp_path / "load.parquet"
    frame.to_parquet(path)
    batch = read_parquet(path, city="BLR", column_map={"load": "load_mw"}, catalogue=catalogue)
    load = batch.load
    assert load["line"].tolist() == [1, 2, 3, 4]
    assert load["ts"].iloc[0] == pd.Timestamp("2024-05-01 00:00", tz="Asia/Kolkata")
    assert load.loc[2, "error"] == "missing load_mw" and load["error"].notna().sum() == 1
    with pytest.raises(InputFileError, match="not a Parquet file"):
        read_parquet(SOURCES / "not_parquet.parquet", city="BLR", catalogue=catalogue)


def test_open_meteo_hourly_json():
    weather = read_open_meteo(SOURCES / "open_meteo_delhi.json", city="del").weather
    assert len(weather) == 24 and (weather["city"] == "DEL").all()
    assert weather["ts"].iloc[0] == pd.Timestamp("2024-05-01 00:00", tz="Asia/Kolkata")
    assert weather["temperature_c"].iloc[15] == 36.0
    assert weather["relative_humidity_pct"].iloc[5] == 140  # left for validation to reject
    assert pd.isna(weather["precipitation_mm"].iloc[23])
    forecast = read_open_meteo(SOURCES / "open_meteo_delhi.json", city="DEL", kind="forecast",
                               issued_at=dt.datetime(2024, 4, 30, 12, tzinfo=dt.timezone.utc)).weather
    assert (forecast["kind"] == "forecast").all() and forecast["issued_at"].notna().all()
    with pytest.raises(InputFileError, match="not JSON") as caught:
        read_open_meteo(SOURCES / "open_meteo_truncated.json", city="DEL")
    assert caught.value.line == 1


def test_sldc_five_minute_table():
    batch = read_sldc(SOURCES / "sldc_delhi_2024-05-01.csv")
    load = batch.load
    assert batch.resolution_minutes == 5 and len(load) == 24
    assert load["line"].iloc[0] == 4  # two title lines and the header come first
    assert load["ts"].iloc[1] == pd.Timestamp("2024-05-01 00:05", tz="Asia/Kolkata")
    assert load["load_mw"].iloc[0] == 5200 and (load["city"] == "DEL").all()
    with pytest.raises(InputFileError, match="missing required column 'DELHI'"):
        read_sldc(SOURCES / "sldc_missing_delhi.csv")


def test_psp_state_rows_map_to_subdivisions():
    supply = read_psp(SOURCES / "psp_2024-05-01.csv").supply
    good = supply[supply["error"].isna()].set_index("region")
    assert {"DL", "UP", "RJ", "MH", "TN", "TS", "WB"} == set(good.index)
    assert good.loc["UP", "max_demand_met_mw"] == 27500 and good.loc["UP", "shortage_mu"] == 1.25
    assert (supply["date"] == dt.date(2024, 5, 1)).all()
    bad = supply[supply["error"].notna()].set_index("line")
    assert bad.loc[9, "error"] == "unknown state 'Atlantis'"
    assert bad.loc[10, "error_field"] == "Max.Demand Met during the day (MW)"


def test_connectors_dispatch_with_the_same_keywords(catalogue):
    assert set(CONNECTORS) == {"csv", "parquet", "open-meteo", "sldc", "psp"}
    batch = CONNECTORS["sldc"](SOURCES / "sldc_delhi_2024-05-01.csv", city="DEL", catalogue=catalogue,
                               column_map=None, default_timezone=None)
    assert len(batch.load) == 24
    assert len(CONNECTORS["sldc"](SOURCES / "sldc_delhi_2024-05-01.csv", city=None).load) == 24
    with pytest.raises(InputFileError, match="--city"):
        CONNECTORS["open-meteo"](SOURCES / "open_meteo_delhi.json", city=None, catalogue=catalogue)


def test_a_file_without_one_usable_row_is_a_bad_file(tmp_path, catalogue):
    path = tmp_path / "dates.csv"
    path.write_text("timestamp,city,load_mw\n01/05/2024 00:00,DEL,4000\n01/05/2024 00:15,DEL,4010\n",
                    encoding="utf-8")
    with pytest.raises(InputFileError, match="no usable row") as caught:
        read_csv(path, catalogue=catalogue)
    assert caught.value.line == 2 and caught.value.column == "timestamp"


def test_local_times_lost_to_daylight_saving_are_row_errors(settings, tmp_path):
    from data.catalogue import City, load_catalogue

    catalogue = load_catalogue(settings)
    catalogue.add(City(code="SYD", name="Sydney", country="AU", subdivision="NSW", latitude=-33.87,
                       longitude=151.21, timezone="Australia/Sydney", peak_mw=9000))
    path = tmp_path / "sydney.csv"
    path.write_text("timestamp,city,load_mw\n2024-10-06T01:30:00,SYD,5000\n2024-10-06T02:30:00,SYD,5000\n"
                    "2024-10-06T03:30:00,SYD,5000\n", encoding="utf-8")
    load = read_csv(path, catalogue=catalogue).load
    assert load["error"].notna().tolist() == [False, True, False]
    assert load.loc[1, "error"].startswith("local time that does not exist or is ambiguous (DST)")
    assert load.loc[2, "ts"] - load.loc[0, "ts"] == pd.Timedelta(hours=1)  # 01:30 AEST -> 03:30 AEDT
