"""Transformer member: an encoder over [history patches; future steps], read out on the future tokens."""

from __future__ import annotations

from typing import Annotated, Any

import torch
from pydantic import Field
from torch import nn

from training.members.params import TorchParams, TuneRange
from training.members.spec import FitData
from training.members.torch_member import common_arch, torch_member_spec
from training.members.torch_nets import start_at_base


class TransformerParams(TorchParams):
    d_model: Annotated[int, TuneRange(choices=(16, 32, 64))] = Field(32, description="Token width.")
    heads: Annotated[int, TuneRange(choices=(2, 4))] = Field(4, description="Attention heads (must divide d_model).")
    layers: Annotated[int, TuneRange(1, 4)] = Field(2, description="Encoder layers.")
    ff: Annotated[int, TuneRange(choices=(32, 64, 128))] = Field(64, description="Feed-forward width.")


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
        start_at_base(self.head)
        self.horizon = horizon

    def forward(self, future: torch.Tensor, hist: torch.Tensor, city: torch.Tensor, base: torch.Tensor) -> torch.Tensor:
        b, length, f = hist.shape
        patches = hist[:, length % self.patch:, :].reshape(b, -1, f * self.patch)
        h = future.shape[1]
        tokens = torch.cat([self.hist_proj(patches), self.future_proj(future)], dim=1)
        tokens = tokens + self.pos[:, -tokens.shape[1]:, :] + self.city(city)[:, None, :]
        out = self.encoder(tokens)[:, -h:, :]
        return self.head(torch.cat([out, future], dim=2)) + base[..., None]


def transformer_arch(params: dict[str, Any], data: FitData) -> dict[str, Any]:
    """History patches of an hour (at least one step) keep the token count small at any resolution."""
    steps_per_day = 1440 // data.resolution_minutes
    return {**common_arch(params, data), "hist_len": data.shapes.hist_len, "horizon": data.horizon,
            "patch": max(1, steps_per_day // 24), "d_model": params["d_model"], "heads": params["heads"],
            "layers": params["layers"], "ff": params["ff"]}


SPEC = torch_member_spec("transformer", TransformerParams, TransformerNet, transformer_arch, deployment="Transformer",
                         description="Encoder-only transformer correcting the seasonal naive.")
