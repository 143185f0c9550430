"""The data commands of `efp` driven through typer's runner against a per-test lake."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from data.settings import get_settings
from ray_apps.cli import app

CSV = (
    "timestamp,load_mw,temperature_c\n"
    + "".join(f"2024-03-01T{h:02d}:{m:02d}:00,{4000 + h * 10 + m},{20 + h * 0.1:.1f}\n" for h in range(6) for m in (0, 15, 30, 45))
)


@pytest.fixture()
def efp(settings, monkeypatch):
    """Run `efp ...` with the test's settings (embedded stores under tmp_path)."""
    monkeypatch.setenv("EFP_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("EFP_REGISTRY_URI", str(settings.registry_uri))
    get_settings.cache_clear()
    runner = CliRunner()
    yield lambda *args: runner.invoke(app, list(args))
    get_settings.cache_clear()


def test_every_data_command_has_help(efp):
    for command in (["cities", "list"], ["cities", "add"], ["generate"], ["ingest"], ["data", "stats"], ["data", "plot"]):
        result = efp(*command, "--help")
        assert result.exit_code == 0 and "Usage" in result.output, command


def test_ingest_csv_twice_second_time_inserts_nothing(efp, tmp_path):
    path = tmp_path / "delhi.csv"
    path.write_text(CSV, encoding="utf-8")
    first = efp("ingest", "csv", str(path), "--city", "DEL", "--timezone", "Asia/Kolkata", "--json")
    assert first.exit_code == 0, first.output
    summary = json.loads(first.stdout)
    assert {"input_rows", "accepted", "repaired", "rejected", "inserted", "unchanged"} <= set(summary)
    assert summary["input_rows"] == 24 and summary["inserted"] == 24
    again = json.loads(efp("ingest", "csv", str(path), "--city", "DEL", "--timezone", "Asia/Kolkata", "--json").stdout)
    assert again["inserted"] == 0 and again["unchanged"] == 24
    table = efp("ingest", "csv", str(path), "--city", "DEL", "--timezone", "Asia/Kolkata")
    assert table.exit_code == 0 and "unchanged" in table.stdout


def test_bad_row_is_reported_with_line_and_column_and_quarantined(efp, tmp_path, settings):
    lines = CSV.splitlines()
    lines[5] = "2024-03-01T01:00:00,abc,20.1"  # file line 6
    path = tmp_path / "one-bad-row.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = efp("ingest", "csv", str(path), "--city", "DEL", "--json")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["rejected"] == 1
    assert summary["input_rows"] == summary["accepted"] + summary["repaired"] + summary["rejected"] == 24
    assert summary["quarantined"] == [
        {"line": 6, "field": "load_mw", "reason": "line 6, column 'load_mw': unparseable number 'abc'"}
    ]
    table = efp("ingest", "csv", str(path), "--city", "DEL")
    assert "line 6, column 'load_mw'" in table.stdout
    stats = json.loads(efp("data", "stats", "--city", "DEL", "--json").stdout)
    assert stats[0]["quarantined"] == 2  # both runs' rejected row is kept in quarantine


def test_missing_column_is_one_line_error_and_nonzero_exit(efp, tmp_path, settings):
    path = tmp_path / "bad.csv"
    path.write_text("timestamp,demand\n2024-03-01T00:00:00+05:30,4100\n", encoding="utf-8")
    result = efp("ingest", "csv", str(path), "--city", "DEL")
    assert result.exit_code != 0
    assert len(result.stderr.strip().splitlines()) == 1 and "load_mw" in result.stderr
    assert not (settings.lake_dir / "load").exists()


def test_column_mapping_options(efp, tmp_path):
    path = tmp_path / "renamed.csv"
    path.write_text(CSV.replace("timestamp,load_mw", "Datetime,Demand (MW)", 1), encoding="utf-8")
    result = efp("ingest", "csv", str(path), "--city", "DEL", "--timezone", "Asia/Kolkata",
                 "--timestamp-column", "Datetime", "--load-column", "Demand (MW)", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["inserted"] == 24


def test_cities_add_then_list_and_bad_timezone(efp):
    added = efp("cities", "add", "OSL", "--name", "Oslo", "--country", "NO", "--lat", "59.91", "--lon", "10.75",
                "--timezone", "Europe/Oslo", "--peak-mw", "1800", "--json")
    assert added.exit_code == 0, added.output
    listed = json.loads(efp("cities", "list", "--json").stdout)
    assert {"DEL", "OSL"} <= {c["code"] for c in listed}
    bad = efp("cities", "add", "XYZ", "--name", "X", "--country", "IN", "--subdivision", "ZZ", "--lat", "1",
              "--lon", "1", "--timezone", "Asia/Kolkata", "--peak-mw", "10")
    assert bad.exit_code != 0 and "subdivision" in bad.stderr


def test_generate_then_stats_and_plot(efp, tmp_path):
    generated = efp("generate", "--cities", "DEL", "--start", "2024-01-01", "--days", "3", "--seed", "5", "--json")
    assert generated.exit_code == 0, generated.output
    (summary,) = json.loads(generated.stdout)
    stats = json.loads(efp("data", "stats", "--json").stdout)
    assert [row["city"] for row in stats] == ["DEL"] and stats[0]["rows"] == summary["inserted"]
    assert stats[0]["resolution_min"] == 15 and stats[0]["quarantined"] == summary["rejected"]
    out = tmp_path / "del.png"
    plotted = efp("data", "plot", "--city", "DEL", "--start", "2024-01-01", "--end", "2024-01-02", "--out", str(out))
    assert plotted.exit_code == 0, plotted.output
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    empty = efp("data", "plot", "--city", "DEL", "--start", "2020-01-01", "--end", "2020-01-02", "--out", str(out))
    assert empty.exit_code != 0 and "no load stored" in empty.stderr


def test_ray_apps_ingest_module_takes_files_and_reports_bad_ones(efp, tmp_path, capsys):
    from ray_apps.ingest import main

    path = tmp_path / "delhi.csv"
    path.write_text(CSV, encoding="utf-8")
    assert main(["csv", str(path), "--city", "DEL", "--timezone", "Asia/Kolkata"]) == 0
    (summary,) = json.loads(capsys.readouterr().out)
    assert summary["inserted"] == 24 and summary["source"] == "csv"
    bad = tmp_path / "bad.csv"
    bad.write_text("timestamp\n2024-03-01T00:00:00+05:30\n", encoding="utf-8")
    assert main(["csv", str(bad), "--city", "DEL"]) == 2
    assert "load_mw" in capsys.readouterr().err


FIXTURES = __import__("pathlib").Path(__file__).resolve().parent.parent / "fixtures" / "sources"


def test_ingest_each_documented_source_kind(efp, settings):
    sldc = json.loads(efp("ingest", "sldc", str(FIXTURES / "sldc_delhi_2024-05-01.csv"), "--json").stdout)
    assert sldc["cities"] == ["DEL"] and sldc["inserted"] > 0 and sldc["input_rows"] == sldc["accepted"] + sldc[
        "repaired"] + sldc["rejected"]
    weather = json.loads(efp("ingest", "open-meteo", str(FIXTURES / "open_meteo_delhi.json"), "--city", "DEL",
                             "--json").stdout)
    assert weather["inserted"] == weather["weather_rows"] > 0
    psp_args = ("ingest", "psp", str(FIXTURES / "psp_2024-05-01.csv"), "--json")
    first, second = json.loads(efp(*psp_args).stdout), json.loads(efp(*psp_args).stdout)
    assert first["inserted"] > 0 and (second["inserted"], second["unchanged"]) == (0, first["inserted"])
    assert (settings.lake_dir / "supply" / "region=DL" / "data.parquet").exists()
    no_city = efp("ingest", "open-meteo", str(FIXTURES / "open_meteo_delhi.json"))
    assert no_city.exit_code != 0 and "--city" in no_city.stderr


def test_a_csv_field_over_the_size_limit_is_one_line_error_naming_file_and_line(efp, tmp_path, settings):
    """Issue 11, finding 13: a 200 KiB cell used to end in the csv module's traceback."""
    path = tmp_path / "huge_cell.csv"
    path.write_text("timestamp,load_mw,note\n2024-03-01T00:00:00+05:30,4100,ok\n"
                    f'2024-03-01T00:15:00+05:30,4090,"{"x" * 200_000}"\n', encoding="utf-8")
    result = efp("ingest", "csv", str(path), "--city", "DEL")
    assert result.exit_code == 2
    (line,) = result.stderr.strip().splitlines()
    assert str(path) in line and "line 3" in line and "field is longer than 131,072 characters" in line
    assert not (settings.lake_dir / "load").exists() and not (settings.metadata_dir / "runs.jsonl").exists()
