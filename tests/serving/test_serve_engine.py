"""The Serve engine's transport rules without a cluster: handles stand in for deployments
(``.method.remote(...)`` returns an awaitable, as a ``DeploymentResponse`` is)."""

from __future__ import annotations

import asyncio

import numpy as np
import pandas as pd
import pytest

from serving.engines import ForecastJob
from serving.engines.serve import ServeEngine
from training.forecast import NoMemberError


class _Call:
    def __init__(self, result: object) -> None:
        self.result, self.cancelled = result, False

    def __await__(self):
        async def answer():
            if isinstance(self.result, BaseException):
                raise self.result
            return self.result
        return answer().__await__()

    def cancel(self) -> None:
        self.cancelled = True


class _Method:
    def __init__(self, result: object) -> None:
        self._result = result

    def remote(self, *args: object) -> _Call:
        return _Call(self._result)


class _Handle:
    def __init__(self, **methods: object) -> None:
        for name, result in methods.items():
            setattr(self, name, _Method(result))


class _Features:
    city, lead_steps, notes, as_of, data_until = "DEL", 0, [], None, None
    timestamps = pd.date_range("2024-04-10", periods=4, freq="15min", tz="UTC")


class _Packet:
    features = _Features()


def _engine(combine: object) -> ServeEngine:
    members = {"xgboost": _Handle(predict=np.ones((4, 3)))}
    return ServeEngine(_Handle(features=_Packet()), members, _Handle(combine=combine), member_timeout_s=1.0)


JOB = ForecastJob("v1", "DEL", pd.Timestamp("2024-04-10", tz="UTC"), 4, 15)


def test_an_ensemble_failure_is_a_503_not_a_500() -> None:
    with pytest.raises(NoMemberError, match="ensemble could not combine .* RuntimeError: replica died"):
        asyncio.run(_engine(RuntimeError("replica died")).run(JOB))


def test_a_working_ensemble_answers() -> None:
    result = asyncio.run(_engine((np.full((4, 3), 7.0), {"xgboost": 1.0})).run(JOB))
    assert result.quantiles.shape == (4, 3) and not result.degraded and result.members[0].weight == 1.0
