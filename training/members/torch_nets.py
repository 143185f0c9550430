"""What the sequence networks share: they predict a correction on top of ``base`` (the
mean of the valid same-block load lags: a seasonal naive), which they learn far faster
than the level, and they are trained on the pinball loss of the three quantiles.

Every network reads the last days of load (history tokens) and the known future
covariates (calendar, weather, valid lags) and emits (horizon, 3) residual quantiles
relative to the issue-time level; it is built as ``Net(**arch)`` from the arch dict its
member module derives from the params and the data. Kept small on purpose: they must
train on two CPUs in the demo and still beat the seasonal naive.
"""

from __future__ import annotations

import torch
from torch import nn


def start_at_base(layer: nn.Linear) -> None:
    """Zero the output layer: an untrained net forecasts exactly the base, and learns corrections."""
    nn.init.zeros_(layer.weight)
    nn.init.zeros_(layer.bias)


def pinball_loss(pred: torch.Tensor, y: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean pinball loss over the three quantiles on masked steps."""
    q = torch.tensor([0.1, 0.5, 0.9], device=pred.device, dtype=pred.dtype)
    diff = y[..., None] - pred
    loss = torch.maximum(q * diff, (q - 1) * diff) * mask[..., None]
    return loss.sum() / (mask.sum() * 3).clamp(min=1)
