"""Ensemble weights: non-negative, summing to one, per city (and per horizon band).

Weights come from non-negative least squares of the members' P50 on the validation
window (``scipy.optimize.nnls``), normalised to sum to one; the same weights combine
P10 and P90. A member missing at forecast time is dropped and the rest renormalised,
so a failed deployment degrades the forecast instead of failing it.
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import nnls

GLOBAL = "__all__"


def fit_weights(preds: dict[str, np.ndarray], y: np.ndarray, mask: np.ndarray, bands: int = 1) -> list[dict[str, float]]:
    """One weight dict per horizon band; preds (n, H, 3) MW, y (n, H) MW, mask (n, H)."""
    names = sorted(preds)
    horizon = y.shape[1]
    edges = np.linspace(0, horizon, bands + 1).astype(int)
    out = []
    for lo, hi in zip(edges[:-1], edges[1:]):
        m = mask[:, lo:hi].reshape(-1)
        if m.sum() < len(names) or not names:
            out.append({n: 1.0 / len(names) for n in names})
            continue
        a = np.stack([preds[n][:, lo:hi, 1].reshape(-1)[m] for n in names], axis=1)
        b = y[:, lo:hi].reshape(-1)[m]
        scale = max(float(np.abs(b).mean()), 1e-9)
        w, _ = nnls(a / scale, b / scale)
        total = float(w.sum())
        w = w / total if total > 0 else np.full(len(names), 1.0 / len(names))
        out.append({n: float(v) for n, v in zip(names, w)})
    return out


SPREADS = np.linspace(0.5, 3.0, 26)


def fit_spread(q: np.ndarray, y: np.ndarray, mask: np.ndarray) -> list[float]:
    """Factors widening (or narrowing) P10 and P90 around P50 that minimise their pinball on validation.

    Members fitted on the training window are over-confident out of sample; one factor per
    side, per city, fitted on the validation window restores honest P10-P90 coverage.
    """
    q, y = q[mask], y[mask]
    if len(y) < 10:
        return [1.0, 1.0]
    out = []
    for column, level in ((0, 0.1), (2, 0.9)):
        losses = []
        for factor in SPREADS:
            pred = q[:, 1] + factor * (q[:, column] - q[:, 1])
            diff = y - pred
            losses.append(np.mean(np.maximum(level * diff, (level - 1) * diff)))
        out.append(float(SPREADS[int(np.argmin(losses))]))
    return out


class WeightedEnsemble:
    """Implements ``training.api.Ensemble``; ``weights[city]`` is a list of per-band weight dicts,
    ``spreads[city]`` the [P10, P90] widening factors fitted on validation."""

    def __init__(self, weights: dict[str, list[dict[str, float]]], spreads: dict[str, list[float]] | None = None) -> None:
        self.weights = weights
        self.spreads = spreads or {}

    def weights_for(self, city: str) -> list[dict[str, float]]:
        return self.weights.get(city) or self.weights[GLOBAL]

    def combine(self, city: str, predictions: dict[str, np.ndarray]) -> tuple[np.ndarray, dict[str, float]]:
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
            if total <= 0:  # only zero-weight members left: equal weights among them
                present = {n: 1.0 for n in predictions}
                total = float(len(predictions))
            for name, w in present.items():
                result[lo:hi] += (w / total) * predictions[name][lo:hi]
                used_total[name] = used_total.get(name, 0.0) + (w / total) * (hi - lo) / full_h
        lo, hi = self.spreads.get(city) or self.spreads.get(GLOBAL) or (1.0, 1.0)
        result[:, 0] = result[:, 1] + lo * (result[:, 0] - result[:, 1])
        result[:, 2] = result[:, 1] + hi * (result[:, 2] - result[:, 1])
        return np.maximum(np.sort(result, axis=1), 0.0), used_total

    def to_json(self) -> dict:
        return {"weights": self.weights, "spreads": self.spreads}

    @classmethod
    def from_json(cls, payload: dict) -> "WeightedEnsemble":
        return cls(payload["weights"], payload.get("spreads"))
