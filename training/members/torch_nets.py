"""The two sequence networks. Both predict a correction on top of ``base`` (the mean of the
valid same-block load lags: a seasonal naive), which they learn far faster than the level.

Both read the last days of load (history tokens) and the
known future covariates (calendar, weather, valid lags) and emit (horizon, 3) residual
quantiles relative to the issue-time level. Kept small on purpose: they must train on
two CPUs in the demo and still beat the seasonal naive.
"""

from __future__ import annotations

import torch
from torch import nn


def _start_at_base(layer: nn.Linear) -> None:
    """Zero the output layer: an untrained net forecasts exactly the base, and learns corrections."""
    nn.init.zeros_(layer.weight)
    nn.init.zeros_(layer.bias)


class LSTMNet(nn.Module):
    """Encoder LSTM over history; decoder LSTM over the horizon's covariates, started from the encoder state."""

    def __init__(self, n_future: int, n_hist: int, n_cities: int, *, hidden: int, layers: int, dropout: float, city_embedding: int) -> None:
        super().__init__()
        self.city = nn.Embedding(n_cities + 1, city_embedding)
        drop = dropout if layers > 1 else 0.0
        self.encoder = nn.LSTM(n_hist + city_embedding, hidden, layers, batch_first=True, dropout=drop)
        self.decoder = nn.LSTM(n_future + city_embedding, hidden, layers, batch_first=True, dropout=drop)
        self.head = nn.Sequential(nn.Dropout(dropout), nn.Linear(hidden + n_future, hidden), nn.GELU(), nn.Linear(hidden, 3))
        _start_at_base(self.head[-1])

    def forward(self, future: torch.Tensor, hist: torch.Tensor, city: torch.Tensor, base: torch.Tensor) -> torch.Tensor:
        emb = self.city(city)
        _, state = self.encoder(torch.cat([hist, emb[:, None, :].expand(-1, hist.shape[1], -1)], dim=2))
        out, _ = self.decoder(torch.cat([future, emb[:, None, :].expand(-1, future.shape[1], -1)], dim=2), state)
        return self.head(torch.cat([out, future], dim=2)) + base[..., None]


class TransformerNet(nn.Module):
    """Encoder-only transformer over [history patches; future steps], read out on the future tokens."""

    def __init__(self, n_future: int, n_hist: int, n_cities: int, *, hist_len: int, horizon: int, patch: int,
                 d_model: int, heads: int, layers: int, ff: int, dropout: float, city_embedding: int) -> None:
        super().__init__()
        self.patch = patch
        self.city = nn.Embedding(n_cities + 1, d_model)
        self.hist_proj = nn.Linear(n_hist * patch, d_model)
        self.future_proj = nn.Linear(n_future, d_model)
        self.pos = nn.Parameter(torch.zeros(1, hist_len // patch + horizon, d_model))
        layer = nn.TransformerEncoderLayer(d_model, heads, ff, dropout, batch_first=True, norm_first=True)
        self.encoder = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.head = nn.Linear(d_model + n_future, 3)
        _start_at_base(self.head)
        self.horizon = horizon

    def forward(self, future: torch.Tensor, hist: torch.Tensor, city: torch.Tensor, base: torch.Tensor) -> torch.Tensor:
        b, length, f = hist.shape
        patches = hist[:, length % self.patch:, :].reshape(b, -1, f * self.patch)
        h = future.shape[1]
        tokens = torch.cat([self.hist_proj(patches), self.future_proj(future)], dim=1)
        tokens = tokens + self.pos[:, -tokens.shape[1]:, :] + self.city(city)[:, None, :]
        out = self.encoder(tokens)[:, -h:, :]
        return self.head(torch.cat([out, future], dim=2)) + base[..., None]


def build_net(name: str, arch: dict) -> nn.Module:
    kwargs = dict(arch)
    n_future, n_hist, n_cities = kwargs.pop("n_future"), kwargs.pop("n_hist"), kwargs.pop("n_cities")
    if name == "lstm":
        return LSTMNet(n_future, n_hist, n_cities, **kwargs)
    return TransformerNet(n_future, n_hist, n_cities, **kwargs)


def pinball_loss(pred: torch.Tensor, y: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean pinball loss over the three quantiles on masked steps."""
    q = torch.tensor([0.1, 0.5, 0.9], device=pred.device, dtype=pred.dtype)
    diff = y[..., None] - pred
    loss = torch.maximum(q * diff, (q - 1) * diff) * mask[..., None]
    return loss.sum() / (mask.sum() * 3).clamp(min=1)
