"""A fourth member that exists only in the suite: the seasonal naive (``base``, the mean of
the valid same-block lags) with quantile offsets learnt from its training residuals.

It is written the way a real member is (a params model, fits, save/load, a spec) and
touches no other module: ``training.members.registry.register(SPEC)`` is all it takes.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import numpy as np
from pydantic import Field

from training.api import QUANTILES
from training.features.grid import BASE_INDEX, Samples
from training.members.common import scaled_pinball, to_mw
from training.members.params import MemberParams, TuneRange
from training.members.spec import FitContext, FitData, FitOutcome, MemberSpec


class ToyParams(MemberParams):
    shrink: Annotated[float, TuneRange(0.0, 1.0)] = Field(0.5, ge=0, le=1, description="Shrinks the learnt offsets towards 0.")


class ToyMember:
    name = "toy"

    def __init__(self, offsets: np.ndarray) -> None:
        self.offsets = np.asarray(offsets, dtype=float)  # (3,) residual quantiles, scaled units

    def predict_samples(self, samples: Samples) -> np.ndarray:
        base = np.nan_to_num(samples.future[..., BASE_INDEX])  # (n, H), relative to the level
        return to_mw(base[..., None] + self.offsets, samples)

    def predict(self, batch: list) -> list[np.ndarray]:
        out = self.predict_samples(Samples.concat([fs.samples for fs in batch]))
        return [out[i, : fs.horizon] for i, fs in enumerate(batch)]

    def save(self, folder: Path) -> None:
        (folder / "toy.json").write_text(json.dumps({"offsets": self.offsets.tolist()}))

    @classmethod
    def load(cls, folder: Path) -> "ToyMember":
        return cls(json.loads((folder / "toy.json").read_text())["offsets"])


def fit(params: dict[str, Any], data: FitData, ctx: FitContext) -> FitOutcome:
    train = data.train
    residual = (train.y - np.nan_to_num(train.future[..., BASE_INDEX]))[train.ymask]
    offsets = (1 - params["shrink"]) * np.quantile(residual, QUANTILES)
    ctx.log(f"[toy] offsets {np.round(offsets, 4).tolist()}")
    member = ToyMember(offsets)
    return FitOutcome(member, scaled_pinball(member, data.validation), [{"epoch": 0}])


SPEC = MemberSpec(
    name="toy", params=ToyParams, kind="booster", fit_local=fit, fit_ray=fit, load=ToyMember.load, deployment="Toy",
    progress_reports=lambda params: 1, description="Seasonal naive with learnt quantile offsets (suite only).",
)
