"""Bundles: save/load round trip, monotone quantiles, ensemble weights and degraded forecasts."""

from __future__ import annotations

import shutil

import numpy as np
import pandas as pd
import pytest

from training.bundle import BundleError, load_bundle
from training.ensemble import GLOBAL, WeightedEnsemble, fit_weights
from training.inputs import NOTE_OBSERVED, build_forecast_input


def _input(tiny_trained, bundle, city="DEL"):
    start = (tiny_trained.data_end - pd.Timedelta(days=3)).tz_convert("Asia/Kolkata").normalize().tz_convert("UTC")
    return build_forecast_input(tiny_trained.settings, city, start, bundle.preprocessor.horizon, bundle_or_preprocessor=bundle)


def test_round_trip_gives_identical_forecasts(tiny_trained, tmp_path):
    bundle = load_bundle(tiny_trained.bundle_dir)
    inp = _input(tiny_trained, bundle)
    first = bundle.forecast(inp)
    copy = bundle.save(tmp_path / "copy")
    again = load_bundle(copy).forecast(inp)
    np.testing.assert_allclose(first.quantiles, again.quantiles, rtol=1e-6)
    assert again.model_version == bundle.version and again.members_used == ["lstm", "transformer", "xgboost"]
    assert load_bundle(copy).feature_schema_hash == bundle.feature_schema_hash
    assert NOTE_OBSERVED in first.notes


def test_quantiles_are_monotone_for_members_and_ensemble(tiny_trained):
    bundle = load_bundle(tiny_trained.bundle_dir)
    result = bundle.forecast(_input(tiny_trained, bundle, "MUM"))
    assert result.quantiles.shape == (96, 3) and len(result.timestamps) == 96
    for forecast in [result.quantiles, *result.member_forecasts.values()]:
        assert (np.diff(forecast, axis=1) >= 0).all()
        assert (forecast >= 0).all()


def test_ensemble_weights_are_non_negative_and_sum_to_one(tiny_trained):
    bundle = load_bundle(tiny_trained.bundle_dir)
    for city, bands in bundle.ensemble.weights.items():
        for band in bands:
            assert all(w >= 0 for w in band.values()), city
            assert sum(band.values()) == pytest.approx(1.0)
    rng = np.random.default_rng(0)
    y = rng.uniform(90, 110, (20, 8))
    good = np.repeat(y[:, :, None], 3, axis=2)
    bad = good * -1.0
    weights = fit_weights({"good": good, "bad": bad}, y, np.ones_like(y, bool))
    assert weights["good"] == pytest.approx(1.0) and weights["bad"] == pytest.approx(0.0, abs=1e-6)


def test_conformal_calibration_brings_each_band_to_its_nominal_coverage():
    """Over-confident bands (P10/P90 at +-1 %) on out-of-sample misses of +-5 %: calibrated to ~80 %, per lead band."""
    from training.ensemble import calibrate, fit_calibration

    rng = np.random.default_rng(3)
    n, h = 400, 96
    p50 = rng.uniform(900, 1100, (n, h))
    lead_hours = (rng.integers(0, 160, n)[:, None] + np.arange(h)[None, :]) * 0.25
    noise = rng.normal(0, 0.05 + 0.02 * (lead_hours > 24), (n, h))  # longer leads miss more
    actual = p50 * (1 + noise)
    narrow = np.stack([p50 * 0.99, p50, p50 * 1.01], axis=2)
    fit, score = np.arange(n) < n // 2, np.arange(n) >= n // 2
    mask = np.ones((n, h), bool)
    calibration = fit_calibration(narrow[fit], actual[fit], mask[fit], lead_hours[fit])
    assert len(calibration) == 4 and calibration[3]["hi"] > calibration[0]["hi"] > 0.01  # wider where misses are
    wide = calibrate(narrow[score], calibration, lead_hours[score])
    inside = (actual[score] >= wide[..., 0]) & (actual[score] <= wide[..., 2])
    before = (actual[score] >= narrow[score][..., 0]) & (actual[score] <= narrow[score][..., 2])
    assert before.mean() < 0.3 and 0.76 <= inside.mean() <= 0.84
    for band in (lead_hours[score] < 12, lead_hours[score] >= 36):
        assert 0.74 <= inside[band].mean() <= 0.86


def test_failed_member_is_left_out_renormalised_and_degraded(tiny_trained, tmp_path):
    broken = tmp_path / "broken"
    shutil.copytree(tiny_trained.bundle_dir, broken)
    bundle = load_bundle(broken)
    inp = _input(tiny_trained, bundle)
    # A member whose artifact works but whose predict fails at run time (e.g. a replica crash).
    bundle.members["lstm"].net.head = None
    result = bundle.forecast(inp)
    assert result.degraded and "lstm" in result.members_failed and result.members_used == ["transformer", "xgboost"]
    ensemble = WeightedEnsemble({GLOBAL: [{"a": 0.5, "b": 0.3, "c": 0.2}]})
    ones = np.ones((4, 3))
    combined, used = ensemble.combine("DEL", {"a": ones * 10, "c": ones * 20})
    assert used == pytest.approx({"a": 0.5 / 0.7, "c": 0.2 / 0.7})
    np.testing.assert_allclose(combined, 10 * 0.5 / 0.7 + 20 * 0.2 / 0.7)


def test_a_folder_without_a_bundle_is_refused(tmp_path):
    with pytest.raises(BundleError, match="bundle.json missing"):
        load_bundle(tmp_path)


def test_horizon_weather_from_the_override_else_climatology(tiny_trained):
    bundle = load_bundle(tiny_trained.bundle_dir)
    start = tiny_trained.data_end  # nothing observed after this: a real forecast
    plain = build_forecast_input(tiny_trained.settings, "DEL", start, 96, bundle_or_preprocessor=bundle)
    result = bundle.forecast(plain)
    assert any("climatology" in note for note in result.notes)
    horizon = pd.date_range(start, periods=96, freq="15min")
    hot = pd.DataFrame({"city": "DEL", "ts": horizon, "temperature_c": 44.0, "relative_humidity_pct": 60.0, "kind": "forecast"})
    override = build_forecast_input(tiny_trained.settings, "DEL", start, 96, bundle_or_preprocessor=bundle, weather_override=hot)
    features = bundle.preprocessor.features(override)
    assert "weather supplied with the request" in features.notes
    temperature = features.samples.future[0, :, bundle.preprocessor.feature_names.index("temperature_c")]
    np.testing.assert_allclose(temperature, 44.0)


def test_requests_the_model_cannot_answer_are_clear_errors(tiny_trained):
    from data.errors import NotFoundError
    from training.preprocessor import ForecastInputError

    bundle = load_bundle(tiny_trained.bundle_dir)
    inp = _input(tiny_trained, bundle)
    with pytest.raises(NotFoundError, match="city: 'BLR' is not covered by this model") as not_covered:
        bundle.forecast(type(inp)(**{**inp.__dict__, "city": "BLR"}))
    assert not_covered.value.field == "city"
    with pytest.raises(ForecastInputError, match="horizon: 200 steps is outside 1..96") as too_far:
        bundle.forecast(type(inp)(**{**inp.__dict__, "horizon": 200}))
    assert too_far.value.field == "horizon"
    short = bundle.forecast(type(inp)(**{**inp.__dict__, "horizon": 8}))
    assert short.quantiles.shape == (8, 3) and len(short.timestamps) == 8


def test_weights_are_chosen_per_city_when_a_member_is_poor_in_one():
    """Member "a" is sharp in DEL and poor in MUM, "b" middling in both: the pooled weights
    favour "a"; MUM gets mostly "b", DEL keeps "a", and the cross-fitted forecasts of MUM
    beat what the pooled weights would have given it."""
    from training.assemble import fit_ensemble
    from training.features.grid import Samples
    from training.prepared import SplitForecast

    rng = np.random.default_rng(11)
    days, h = 40, 8
    cities = np.repeat(["DEL", "MUM"], days)
    n = len(cities)
    start = np.tile(np.datetime64("2024-03-01T00:00", "ns") + np.arange(days) * np.timedelta64(1, "D"), 2)
    truth = rng.uniform(900, 1100, (n, h))
    error_a = np.where((cities == "DEL")[:, None], 0.005, 0.12)  # relative spread of a's misses
    a = truth * (1 + rng.normal(0, 1, (n, h)) * error_a)
    b = truth * (1 + rng.normal(0, 0.03, (n, h)))
    quantiles = {name: np.stack([p * 0.97, p, p * 1.03], axis=2) for name, p in (("a", a), ("b", b))}
    targets = Samples(future=np.zeros((n, h, 0), np.float32), hist=np.zeros((n, 0, 0), np.float32),
                      level=np.zeros(n, np.float32), y=truth.astype(np.float32), ymask=np.ones((n, h), bool),
                      city_idx=(cities == "MUM").astype(int), scale=np.ones(n, np.float32), origin=start,
                      lead=np.zeros(n, np.int64), start=start, cities=cities.astype(object))
    ensemble, crossed = fit_ensemble(SplitForecast(quantiles, targets), 15)
    pooled, mum, delhi = (ensemble.weights_for(c)[0] for c in (GLOBAL, "MUM", "DEL"))
    assert mum["b"] > 0.8 > pooled["b"], (pooled, mum)
    assert delhi["a"] > 0.5, delhi
    rows = cities == "MUM"
    pooled_mum = pooled["a"] * a[rows] + pooled["b"] * b[rows]
    assert np.abs(crossed[rows][..., 1] - truth[rows]).mean() < np.abs(pooled_mum - truth[rows]).mean()
