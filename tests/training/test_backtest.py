"""Backtests of the tiny real bundle on its stored synthetic data, and the promotion gate built on them."""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from data.errors import ConflictError, NotFoundError
from data.settings import PlatformSettings
from training.backtest import BacktestError, run_backtest
from training.backtest.promotion import BacktestCheck
from training.bundle import load_bundle
from training.metrics import METRIC_NAMES
from training.registry import ModelRegistry, VersionInfo, open_registry

EXPECTED_MODELS = {"ensemble", "xgboost", "lstm", "transformer", "seasonal_naive_day", "seasonal_naive_week"}


def register_tiny(registry: ModelRegistry, tiny, train_end: datetime) -> str:
    bundle = load_bundle(tiny.bundle_dir)
    info = VersionInfo(
        cities=bundle.cities,
        resolution_minutes=bundle.resolution_minutes,
        train_start=tiny.data_start.to_pydatetime(),
        train_end=train_end,
        members=sorted(bundle.members),
        feature_schema_hash=bundle.feature_schema_hash,
    )
    return registry.register(tiny.bundle_dir, info).version


@pytest.fixture()
def tiny_settings(tiny_trained, tmp_path: Path) -> PlatformSettings:
    """The tiny bundle's data, with a registry of this test's own."""
    return tiny_trained.settings.model_copy(update={"registry_uri": str(tmp_path / "registry")})


def last_days(tiny, days: int) -> tuple[date, date]:
    last = (tiny.data_end - timedelta(days=1)).tz_convert("Asia/Kolkata").date() - timedelta(days=1)
    return last - timedelta(days=days - 1), last


def test_backtest_json_has_every_metric_for_every_model(tiny_trained, tiny_settings: PlatformSettings, tmp_path: Path) -> None:
    registry = open_registry(tiny_settings)
    version = register_tiny(registry, tiny_trained, tiny_trained.data_end.to_pydatetime() - timedelta(days=7))
    start, end = last_days(tiny_trained, 3)

    report = run_backtest(tiny_settings, "DEL", start, end)  # no --version: newest version covering DEL
    payload = json.loads(json.dumps(report.to_json()))
    assert set(payload) == {"city", "version", "start", "end", "days", "lead", "weather", "resolution_minutes", "metrics"}
    assert payload["lead"] == "0h"
    assert payload["version"] == version and payload["days"] == 3 and payload["weather"] == "observed"
    assert set(payload["metrics"]) == EXPECTED_MODELS
    for name, values in payload["metrics"].items():
        assert set(values) == set(METRIC_NAMES), name
        assert all(isinstance(values[m], float) for m in METRIC_NAMES), (name, values)
    assert 0.0 < payload["metrics"]["ensemble"]["mape"] < 50.0
    assert 0.0 <= payload["metrics"]["ensemble"]["coverage"] <= 1.0
    steps = 3 * 1440 // report.resolution_minutes
    assert report.series is not None and len(report.series.actual) == steps
    # First forecast issued at 00:00 India time (18:30 UTC the day before).
    assert report.series.timestamps[0] == datetime(start.year, start.month, start.day, tzinfo=timezone.utc) - timedelta(hours=5, minutes=30)


def test_backtest_cli_json_and_plot(tiny_trained, tiny_settings: PlatformSettings, tmp_path: Path, monkeypatch) -> None:
    from data import settings as settings_module
    from ray_apps.cli import app

    register_tiny(open_registry(tiny_settings), tiny_trained, tiny_trained.data_end.to_pydatetime() - timedelta(days=7))
    monkeypatch.setattr(settings_module, "get_settings", lambda: tiny_settings)
    monkeypatch.setattr("ray_apps.cli.model_commands.get_settings", lambda: tiny_settings)
    start, end = last_days(tiny_trained, 2)
    plot = tmp_path / "bt.png"
    result = CliRunner().invoke(
        app, ["backtest", "--city", "MUM", "--start", str(start), "--end", str(end), "--json", "--plot", str(plot)]
    )
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert payload["city"] == "MUM" and set(payload["metrics"]) == EXPECTED_MODELS
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    missing = CliRunner().invoke(app, ["backtest", "--city", "MUM", "--start", str(start), "--end", str(end), "--version", "nope"])
    assert missing.exit_code == NotFoundError.exit_code and "not registered" in missing.output


def test_backtest_refuses_a_window_without_data(tiny_trained, tiny_settings: PlatformSettings) -> None:
    register_tiny(open_registry(tiny_settings), tiny_trained, tiny_trained.data_end.to_pydatetime() - timedelta(days=7))
    with pytest.raises(BacktestError, match="no load stored"):
        run_backtest(tiny_settings, "DEL", date(2030, 1, 1), date(2030, 1, 2))
    with pytest.raises(BacktestError, match="before start"):
        run_backtest(tiny_settings, "DEL", date(2024, 4, 2), date(2024, 4, 1))


def test_promotion_needs_a_better_backtest_unless_forced(tiny_trained, tiny_settings: PlatformSettings) -> None:
    registry = open_registry(tiny_settings)
    unseen_from = tiny_trained.data_end.to_pydatetime() - timedelta(days=7)
    first = register_tiny(registry, tiny_trained, unseen_from)
    same = register_tiny(registry, tiny_trained, unseen_from)
    gate = BacktestCheck(tiny_settings, registry)
    registry.promote(first, check=gate)
    # The same model again cannot beat production on the unseen window: a tie is refused.
    with pytest.raises(ConflictError, match=rf"does not beat production {first} for DEL: ensemble mape .* on 2024-"):
        registry.promote(same, check=gate)
    assert registry.production("DEL").version == first
    late = register_tiny(registry, tiny_trained, tiny_trained.data_end.to_pydatetime())
    with pytest.raises(ConflictError, match="only 0 day"):
        registry.promote(late, check=gate)  # trained on everything: no window it has not seen
    result = registry.promote(same, force=True)
    assert result.forced and registry.production("MUM").version == same
    assert [r.to_version for r in registry.rollback()] == [first, first]


def test_days_as_ray_tasks_give_the_same_numbers(ray_cluster, tiny_trained, tiny_settings: PlatformSettings) -> None:
    from training.backtest import load_backtest_config

    register_tiny(open_registry(tiny_settings), tiny_trained, tiny_trained.data_end.to_pydatetime() - timedelta(days=7))
    start, end = last_days(tiny_trained, 3)
    in_process = run_backtest(tiny_settings, "DEL", start, end)
    progress: list[tuple[int, int]] = []
    fanned_out = run_backtest(
        tiny_settings, "DEL", start, end,
        config=load_backtest_config().model_copy(update={"ray_min_days": 2}), on_day=lambda d, t: progress.append((d, t)),
    )
    assert progress[-1] == (3, 3)
    for model, values in in_process.metrics.items():
        assert fanned_out.metrics[model] == pytest.approx(values, rel=1e-9), model


def test_a_lead_backtest_cannot_see_data_at_or_after_the_issue_time(tiny_trained, tmp_path: Path) -> None:
    """Issued 14 h before the day (10:00 on D-1): moving every load value from the issue time on
    changes the actuals the forecast is scored on, and nothing of the forecast itself."""
    import shutil

    import pandas as pd

    from data.stores import open_store

    shutil.copytree(tiny_trained.settings.data_dir, tmp_path / "var")
    settings = tiny_trained.settings.model_copy(update={"data_dir": tmp_path / "var", "registry_uri": str(tmp_path / "registry")})
    register_tiny(open_registry(settings), tiny_trained, tiny_trained.data_end.to_pydatetime() - timedelta(days=7))
    start, end = last_days(tiny_trained, 2)
    before = run_backtest(settings, "DEL", start, end, lead=pd.Timedelta(hours=14))
    assert before.lead == "14h"

    store = open_store(settings)
    issued = pd.Timestamp(start).tz_localize("Asia/Kolkata").tz_convert("UTC") - pd.Timedelta(hours=14)
    future = store.read_load("DEL", issued, None)
    assert len(future) > 96
    store.write_load(future.assign(load_mw=future["load_mw"] * 3.0 + 500.0))
    after = run_backtest(settings, "DEL", start, start, lead=pd.Timedelta(hours=14))

    first_day = slice(0, 96)
    np.testing.assert_allclose(after.series.ensemble, before.series.ensemble[first_day])
    assert not np.allclose(after.series.actual, before.series.actual[first_day])  # the perturbation was real


def test_many_city_backtest_on_ray_data_equals_each_city_backtested_alone(ray_cluster, tiny_trained, tiny_settings) -> None:
    from training.backtest.many import run_backtests

    registry = open_registry(tiny_settings)
    version = register_tiny(registry, tiny_trained, tiny_trained.data_end.to_pydatetime() - timedelta(days=7))
    start, end = last_days(tiny_trained, 3)
    seen: list[str] = []
    reports = run_backtests(tiny_settings, ["DEL", "mum"], start, end, version, on_city=lambda r: seen.append(r.city))

    assert [r.city for r in reports] == seen == ["DEL", "MUM"]
    for report in reports:
        alone = run_backtest(tiny_settings, report.city, start, end, version)
        assert report.to_json() == alone.to_json()
        np.testing.assert_array_equal(report.series.ensemble, alone.series.ensemble)
