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


class _CountingMethod(_Method):
    """Answers like ``_Method`` and counts the calls (so a test sees which members ran)."""

    def __init__(self, result: object) -> None:
        super().__init__(result)
        self.calls = 0

    def remote(self, *args: object) -> _Call:
        self.calls += 1
        return super().remote(*args)


class _SlowCall(_Call):
    def __await__(self):
        async def answer():
            await asyncio.sleep(5)
            return self.result
        return answer().__await__()


class _SlowMethod(_Method):
    def __init__(self) -> None:
        super().__init__(None)
        self.last: _SlowCall | None = None

    def remote(self, *args: object) -> _SlowCall:
        self.last = _SlowCall(None)
        return self.last


def _weighted_engine(xgb_answer: object, needed: frozenset[str]) -> tuple[ServeEngine, dict[str, _CountingMethod]]:
    methods = {"xgboost": _CountingMethod(xgb_answer), "lstm": _CountingMethod(np.full((4, 3), 2.0))}
    members = {name: _Handle() for name in methods}
    for name, method in methods.items():
        members[name].predict = method  # type: ignore[attr-defined]
    ensemble = _Handle(combine=(np.full((4, 3), 7.0), {"xgboost": 1.0}), members_needed=needed)
    return ServeEngine(_Handle(features=_Packet()), members, ensemble, member_timeout_s=1.0), methods


def test_a_member_with_zero_weight_for_the_city_is_not_called() -> None:
    engine, methods = _weighted_engine(np.ones((4, 3)), frozenset({"xgboost"}))
    result = asyncio.run(engine.run(JOB))
    assert methods["xgboost"].calls == 1 and methods["lstm"].calls == 0
    reports = {m.name: m for m in result.members}
    assert reports["lstm"].skipped and not reports["lstm"].used
    assert not result.degraded, "a member left out for zero weight is not a degradation"


def test_held_back_members_answer_when_every_weighted_one_fails() -> None:
    engine, methods = _weighted_engine(RuntimeError("replica died"), frozenset({"xgboost"}))
    result = asyncio.run(engine.run(JOB))
    assert methods["lstm"].calls == 1, "the zero-weight member is the fallback"
    assert result.degraded and result.members_failed == {"xgboost": "RuntimeError: replica died"}
    assert "lstm" in result.members_used


def test_a_hung_preprocessor_is_a_503_within_the_stage_timeout() -> None:
    slow = _SlowMethod()
    pre = _Handle()
    pre.features = slow  # type: ignore[attr-defined]
    engine = ServeEngine(pre, {"xgboost": _Handle(predict=np.ones((4, 3)))}, _Handle(combine=None),
                         member_timeout_s=1.0, stage_timeout_s=0.05)
    with pytest.raises(NoMemberError, match="preprocessor could not build features: timed out"):
        asyncio.run(engine.run(JOB))
    assert slow.last is not None and slow.last.cancelled, "the abandoned call is cancelled"


def test_a_hung_ensemble_is_a_503_within_the_stage_timeout() -> None:
    slow = _SlowMethod()
    ensemble = _Handle()
    ensemble.combine = slow  # type: ignore[attr-defined]
    engine = ServeEngine(_Handle(features=_Packet()), {"xgboost": _Handle(predict=np.ones((4, 3)))}, ensemble,
                         member_timeout_s=1.0, stage_timeout_s=0.05)
    with pytest.raises(NoMemberError, match="ensemble could not combine .* timed out"):
        asyncio.run(engine.run(JOB))
