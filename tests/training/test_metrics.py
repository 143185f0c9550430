"""Metrics against values worked out by hand (see the comments beside each expectation)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from training.metrics import METRIC_NAMES, coverage, evaluate, mape, mase, pinball, season_steps, smape

# Four steps; the last has a NaN actual and is left out of every metric.
ACTUAL = np.array([100.0, 200.0, 0.0, np.nan])
QUANTILES = np.array(
    [
        [90.0, 110.0, 120.0],
        [150.0, 180.0, 195.0],  # 200 lies above P90: outside the band
        [0.0, 5.0, 10.0],  # zero actual: out of MAPE only
        [1.0, 2.0, 3.0],
    ]
)
INSAMPLE = np.array([10.0, 20.0, 10.0, 30.0, 10.0])  # season 2: |0|, |10|, |0| -> scale 10/3


def test_evaluate_matches_hand_computed_values() -> None:
    result = evaluate(ACTUAL, QUANTILES, insample=INSAMPLE, season=2)
    assert set(result) == set(METRIC_NAMES)
    # MAPE: (10/100 + 20/200) / 2 = 0.1 -> 10 %, the zero actual left out.
    assert result["mape"] == pytest.approx(10.0)
    # sMAPE: (20/210 + 40/380 + 10/5) / 3.
    assert result["smape"] == pytest.approx(100 * (20 / 210 + 40 / 380 + 2.0) / 3)
    # RMSE: sqrt((10^2 + 20^2 + 5^2) / 3) = sqrt(175).
    assert result["rmse"] == pytest.approx(math.sqrt(175.0))
    # Pinball per step: (1 + 5 + 2) + (5 + 10 + 4.5) + (0 + 2.5 + 1) = 31 over 9 terms.
    assert result["pinball"] == pytest.approx(31.0 / 9.0)
    # Coverage: 100 in [90, 120], 200 not in [150, 195], 0 in [0, 10] (closed band).
    assert result["coverage"] == pytest.approx(2.0 / 3.0)
    # MASE: MAE 35/3 divided by the in-sample seasonal-naive error 10/3.
    assert result["mase"] == pytest.approx(3.5)
    # within 5 %: 110 vs 100 (10 %) and 180 vs 200 (10 %) are not; the zero actual is left out.
    assert result["within_5pct"] == 0.0
    assert evaluate(np.array([100.0, 200.0]), np.array([[0, 104.0, 0], [0, 211.0, 0]]))["within_5pct"] == 0.5


def test_mase_is_nan_without_enough_history() -> None:
    assert math.isnan(mase(ACTUAL[:2], QUANTILES[:2, 1], None, 2))
    assert math.isnan(mase(ACTUAL[:2], QUANTILES[:2, 1], np.array([1.0, 2.0]), 2))
    assert math.isnan(evaluate(ACTUAL, QUANTILES)["mase"])


def test_a_perfect_forecast_scores_zero_and_full_coverage() -> None:
    actual = np.array([5.0, 7.0, 9.0])
    q = np.stack([actual - 1, actual, actual + 1], axis=1)
    result = evaluate(actual, q, insample=np.array([1.0, 2.0, 4.0, 8.0]), season=1)
    assert result["mape"] == 0.0 and result["smape"] == 0.0 and result["rmse"] == 0.0 and result["mase"] == 0.0
    assert result["coverage"] == 1.0
    # Only the outer quantiles cost: 0.1 * 1 at P10 and 0.1 * 1 at P90 per step, over 3 columns.
    assert result["pinball"] == pytest.approx(0.2 / 3)


def test_all_nan_or_all_zero_gives_nan_not_an_error() -> None:
    assert math.isnan(mape(np.zeros(3), np.ones(3)))
    assert math.isnan(smape(np.zeros(3), np.zeros(3)))
    assert math.isnan(pinball(np.full(2, np.nan), np.ones((2, 3))))
    assert math.isnan(coverage(np.full(2, np.nan), np.ones((2, 3))))


def test_shape_mismatch_is_refused() -> None:
    with pytest.raises(ValueError, match="shape"):
        evaluate(np.ones(3), np.ones((2, 3)))


def test_season_steps_follow_the_resolution() -> None:
    assert season_steps(15) == 96
    assert season_steps(30, "week") == 336
    with pytest.raises(ValueError):
        season_steps(7)
