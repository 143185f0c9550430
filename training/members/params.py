"""What every member's hyperparameters share: the declared tuning range beside each field.

A params model annotates a field with ``TuneRange`` so the Tune engineer reads the search
space off the model (``tune_ranges``) instead of writing it twice; the sequence members
share ``TorchParams``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field


@dataclass(frozen=True)
class TuneRange:
    """Search range of a hyperparameter: numeric [low, high] (log scale optional) or a choice list."""

    low: float | None = None
    high: float | None = None
    log: bool = False
    choices: tuple[Any, ...] | None = None


class MemberParams(BaseModel):
    """Base of every member's params model: unknown keys are refused, naming the key."""

    model_config = ConfigDict(extra="forbid")


def tune_ranges(model: type[BaseModel]) -> dict[str, TuneRange]:
    """The declared search range of every tunable field of a params model."""
    ranges: dict[str, TuneRange] = {}
    for name, info in model.model_fields.items():
        for meta in info.metadata:
            if isinstance(meta, TuneRange):
                ranges[name] = meta
    return ranges


class TorchParams(MemberParams):
    """Optimisation settings shared by the sequence members (LSTM, Transformer)."""

    epochs: Annotated[int, TuneRange(2, 60)] = Field(20, description="Maximum epochs (early stopping on validation).")
    batch_size: Annotated[int, TuneRange(choices=(32, 64, 128, 256))] = Field(64, description="Samples per batch per worker.")
    lr: Annotated[float, TuneRange(1e-4, 1e-2, log=True)] = Field(2e-3, description="AdamW learning rate.")
    weight_decay: Annotated[float, TuneRange(1e-6, 1e-2, log=True)] = Field(1e-4, description="AdamW weight decay.")
    dropout: Annotated[float, TuneRange(0.0, 0.4)] = Field(0.1, description="Dropout.")
    patience: int = Field(4, ge=1, description="Epochs without validation improvement before stopping.")
    lr_schedule: Literal["constant", "cosine"] = Field("constant", description="Learning rate over the epochs: constant, or cosine decay to 5 % (measured: no clear gain on the synthetic benchmark, see docs/benchmarks.md).")
    city_embedding: int = Field(4, ge=1, le=32, description="Size of the city embedding of the global model.")
