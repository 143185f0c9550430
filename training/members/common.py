"""What all members share: turning scaled residual quantiles back into monotone MW."""

from __future__ import annotations

import numpy as np

from training.features.grid import Samples


def to_mw(residual_q: np.ndarray, samples: Samples) -> np.ndarray:
    """(n, H, 3) residual quantiles (scaled, relative to the level) -> MW, sorted per step, >= 0."""
    scaled = residual_q + samples.level[:, None, None]
    mw = scaled * samples.scale[:, None, None]
    return np.maximum(np.sort(mw, axis=2), 0.0)


def pinball(pred: np.ndarray, y: np.ndarray, mask: np.ndarray, quantiles=(0.1, 0.5, 0.9)) -> float:
    """Mean pinball loss over masked entries; pred (..., 3), y (...)."""
    q = np.asarray(quantiles)
    diff = y[..., None] - pred
    loss = np.maximum(q * diff, (q - 1) * diff)
    loss = np.where(mask[..., None], loss, 0.0)
    return float(loss.sum() / max(mask.sum() * len(q), 1))


def scaled_pinball(member, samples: Samples) -> float:
    """Validation pinball of a member in scaled units (MW / city scale), comparable across cities and members."""
    return scaled_pinball_of(member.predict_samples(samples), samples)


def scaled_pinball_of(forecast_mw: np.ndarray, targets: Samples) -> float:
    """Pinball of (n, H, 3) MW forecasts of ``targets`` (features not needed), in scaled units."""
    pred = forecast_mw / targets.scale[:, None, None]
    truth = (targets.y + targets.level[:, None])
    return pinball(pred, np.nan_to_num(truth), targets.ymask)
