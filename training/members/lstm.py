"""LSTM member: an encoder LSTM over the last days of load, a decoder LSTM over the horizon's covariates."""

from __future__ import annotations

from typing import Annotated, Any

import torch
from pydantic import Field
from torch import nn

from training.members.params import TorchParams, TuneRange
from training.members.spec import FitData
from training.members.torch_member import common_arch, torch_member_spec
from training.members.torch_nets import start_at_base


class LSTMParams(TorchParams):
    hidden: Annotated[int, TuneRange(choices=(16, 32, 64, 128))] = Field(48, description="LSTM hidden size.")
    layers: Annotated[int, TuneRange(1, 3)] = Field(1, description="Stacked LSTM layers.")


class LSTMNet(nn.Module):
    """Encoder LSTM over history; decoder LSTM over the horizon's covariates, started from the encoder state."""

    def __init__(self, n_future: int, n_hist: int, n_cities: int, *, hidden: int, layers: int, dropout: float, city_embedding: int) -> None:
        super().__init__()
        self.city = nn.Embedding(n_cities + 1, city_embedding)
        drop = dropout if layers > 1 else 0.0
        self.encoder = nn.LSTM(n_hist + city_embedding, hidden, layers, batch_first=True, dropout=drop)
        self.decoder = nn.LSTM(n_future + city_embedding, hidden, layers, batch_first=True, dropout=drop)
        self.head = nn.Sequential(nn.Dropout(dropout), nn.Linear(hidden + n_future, hidden), nn.GELU(), nn.Linear(hidden, 3))
        start_at_base(self.head[-1])

    def forward(self, future: torch.Tensor, hist: torch.Tensor, city: torch.Tensor, base: torch.Tensor) -> torch.Tensor:
        emb = self.city(city)
        _, state = self.encoder(torch.cat([hist, emb[:, None, :].expand(-1, hist.shape[1], -1)], dim=2))
        out, _ = self.decoder(torch.cat([future, emb[:, None, :].expand(-1, future.shape[1], -1)], dim=2), state)
        return self.head(torch.cat([out, future], dim=2)) + base[..., None]


def lstm_arch(params: dict[str, Any], data: FitData) -> dict[str, Any]:
    return {**common_arch(params, data), "hidden": params["hidden"], "layers": params["layers"]}


SPEC = torch_member_spec("lstm", LSTMParams, LSTMNet, lstm_arch, deployment="LSTM",
                         description="Encoder-decoder LSTM correcting the seasonal naive.")
