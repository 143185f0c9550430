"""Ensemble weights and band calibration: non-negative weights summing to one, and
conformal P10/P90 offsets per lead band.

Weights are fitted on out-of-fold member forecasts (rolling-origin windows no member
chose its rounds or epochs on, ``training.assemble``), by non-negative least squares of
the P50 shrunk half-way towards inverse-error weights, and kept only when they beat the
best member alone under cross-fitting (weights from one half of the days scored on the
other). Each city then takes whichever does best on its own days under the same
cross-fitting: the weights pooled over every city, its own blend, or its best member.
The same weights combine P10 and P90. A member missing at forecast time is dropped and the rest
renormalised, so a failed deployment degrades the forecast instead of failing it.

Bands: members fitted on the training window are over- or under-confident out of
sample. Per band of lead (hours from the last known load to the step), the P10 moves
down and the P90 up (or in) by the conformal quantile of their out-of-sample misses,
relative to the P50, so each covers its 10 % tail out of sample (split conformal
quantile regression).
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import nnls

GLOBAL = "__all__"
#: Upper ends (hours, exclusive) of the lead bands the calibration is fitted per; the last band is open.
LEAD_BAND_HOURS: tuple[float, ...] = (12.0, 24.0, 36.0)
#: How far NNLS weights are pulled towards inverse-error weights (0: pure NNLS, 1: inverse error).
SHRINKAGE = 0.5


def lead_band(lead_hours: np.ndarray, edges: tuple[float, ...] = LEAD_BAND_HOURS) -> np.ndarray:
    return np.searchsorted(np.asarray(edges), lead_hours, side="right")


def fit_weights(preds: dict[str, np.ndarray], y: np.ndarray, mask: np.ndarray) -> dict[str, float]:
    """NNLS weights of the P50s shrunk towards inverse-MAE weights; preds (n, H, 3), y (n, H) in comparable units."""
    names = sorted(preds)
    a = np.stack([preds[n][..., 1][mask] for n in names], axis=1)
    b = y[mask]
    if len(b) < len(names) * 10:
        return {n: 1.0 / len(names) for n in names}
    scale = max(float(np.abs(b).mean()), 1e-9)
    w, _ = nnls(a / scale, b / scale)
    w = w / w.sum() if w.sum() > 0 else np.full(len(names), 1.0 / len(names))
    inverse = 1.0 / np.maximum(np.abs(a - b[:, None]).mean(axis=0), 1e-9)
    shrunk = (1 - SHRINKAGE) * w + SHRINKAGE * inverse / inverse.sum()
    return {n: float(v) for n, v in zip(names, shrunk / shrunk.sum())}


def blend(weights: dict[str, float], preds: dict[str, np.ndarray]) -> np.ndarray:
    present = {n: weights.get(n, 0.0) for n in preds}
    total = sum(present.values())
    if total <= 0:  # only zero-weight members left: equal weights among them
        present, total = {n: 1.0 for n in preds}, float(len(preds))
    return sum((w / total) * preds[n] for n, w in present.items())


def fit_calibration(q: np.ndarray, y: np.ndarray, mask: np.ndarray, lead_hours: np.ndarray) -> list[dict[str, float]]:
    """Per lead band, how far (relative to the P50) P10 must move down and P90 up to miss 10 % each."""
    bands = lead_band(lead_hours)
    p50 = np.maximum(np.abs(q[..., 1]), 1e-9)
    below = (q[..., 0] - y) / p50  # > 0 where the actual fell under the P10
    above = (y - q[..., 2]) / p50  # > 0 where the actual rose over the P90
    out = []
    for band in range(len(LEAD_BAND_HOURS) + 1):
        inside = mask & (bands == band)
        if inside.sum() < 50:
            inside = mask
        if inside.sum() < 50:
            out.append({"lo": 0.0, "hi": 0.0})
            continue
        n = int(inside.sum())
        level = min(1.0, np.ceil((n + 1) * 0.9) / n)  # split-conformal finite-sample quantile
        out.append({"lo": float(np.quantile(below[inside], level)), "hi": float(np.quantile(above[inside], level))})
    return out


class WeightedEnsemble:
    """Implements ``training.api.Ensemble``.

    ``weights[city]`` is a list of weight dicts (one per legacy horizon band; new bundles have
    one, under ``GLOBAL``); ``calibration`` one {lo, hi} per lead band; ``resolution_minutes``
    turns a step's lead into hours. ``spreads`` are the P10/P90 widening factors of bundles
    saved before calibration existed.
    """

    def __init__(self, weights: dict[str, list[dict[str, float]]], spreads: dict[str, list[float]] | None = None,
                 calibration: list[dict[str, float]] | None = None, resolution_minutes: int = 15) -> None:
        self.weights = weights
        self.spreads = spreads or {}
        self.calibration = calibration or []
        self.resolution_minutes = resolution_minutes

    def weights_for(self, city: str) -> list[dict[str, float]]:
        return self.weights.get(city) or self.weights[GLOBAL]

    def members_needed(self, city: str) -> frozenset[str]:
        """Members with a positive weight in some band for ``city``; serving runs only these
        (``training.forecast.split_needed``), the rest only if all of these fail."""
        return frozenset(name for band in self.weights_for(city) for name, weight in band.items() if weight > 0)

    def combine(self, city: str, predictions: dict[str, np.ndarray], lead_steps: int = 0) -> tuple[np.ndarray, dict[str, float]]:
        """Weighted quantiles of the members present for a forecast ``lead_steps`` after the last known load."""
        if not predictions:
            raise ValueError("no member predictions to combine")
        bands = self.weights_for(city)
        horizon = next(iter(predictions.values())).shape[0]
        full_h = max(horizon, 1)
        edges = np.linspace(0, full_h, len(bands) + 1).astype(int) if len(bands) > 1 else np.array([0, full_h])
        result = np.zeros((horizon, 3))
        used_total: dict[str, float] = {}
        for band, (lo, hi) in zip(bands, zip(edges[:-1], edges[1:])):
            present = {n: band.get(n, 0.0) for n in predictions}
            total = sum(present.values())
            if total <= 0:
                present, total = {n: 1.0 for n in predictions}, float(len(predictions))
            for name, w in present.items():
                result[lo:hi] += (w / total) * predictions[name][lo:hi]
                used_total[name] = used_total.get(name, 0.0) + (w / total) * (hi - lo) / full_h
        if self.calibration:
            lead_hours = (lead_steps + np.arange(horizon)) * self.resolution_minutes / 60.0
            result = calibrate(result, self.calibration, lead_hours)
        else:
            lo, hi = self.spreads.get(city) or self.spreads.get(GLOBAL) or (1.0, 1.0)
            result[:, 0] = result[:, 1] + lo * (result[:, 0] - result[:, 1])
            result[:, 2] = result[:, 1] + hi * (result[:, 2] - result[:, 1])
        return np.maximum(np.sort(result, axis=1), 0.0), used_total

    def to_json(self) -> dict:
        return {"weights": self.weights, "spreads": self.spreads, "calibration": self.calibration,
                "resolution_minutes": self.resolution_minutes}

    @classmethod
    def from_json(cls, payload: dict) -> "WeightedEnsemble":
        return cls(payload["weights"], payload.get("spreads"), payload.get("calibration"), payload.get("resolution_minutes", 15))


def calibrate(q: np.ndarray, calibration: list[dict[str, float]], lead_hours: np.ndarray) -> np.ndarray:
    """Apply the per-lead-band offsets to (..., 3) quantiles whose steps have ``lead_hours``."""
    bands = np.minimum(lead_band(lead_hours), len(calibration) - 1)
    lo = np.array([c["lo"] for c in calibration])[bands]
    hi = np.array([c["hi"] for c in calibration])[bands]
    out = np.array(q, dtype=float, copy=True)
    p50 = np.abs(out[..., 1])
    out[..., 0] = np.minimum(out[..., 0] - lo * p50, out[..., 1])
    out[..., 2] = np.maximum(out[..., 2] + hi * p50, out[..., 1])
    return out
