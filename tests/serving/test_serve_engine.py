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


class _RoutedMember:
    """A member handle that records the multiplexed model id of every call (``options`` as Serve's)."""

    def __init__(self, answer: object, log: list[tuple[str, str]], model_id: str = "") -> None:
        self._answer, self._log, self._model_id = answer, log, model_id

    def options(self, *, multiplexed_model_id: str) -> "_RoutedMember":
        return _RoutedMember(self._answer, self._log, multiplexed_model_id)

    def __getattr__(self, method: str) -> _Method:
        log, model_id, answer = self._log, self._model_id, self._answer

        class _Logged(_Method):
            def remote(self, *args: object) -> _Call:
                log.append((method, model_id))
                return _Call(answer)

        return _Logged(None)


def test_a_per_city_member_is_called_with_the_city_model_id_and_a_global_one_without() -> None:
    calls: dict[str, list[tuple[str, str]]] = {"xgboost": [], "lstm": []}
    members = {name: _RoutedMember(np.ones((4, 3)), log) for name, log in calls.items()}
    ensemble = _Handle(combine=(np.full((4, 3), 7.0), {"xgboost": 0.5, "lstm": 0.5}),
                       members_needed=frozenset({"xgboost", "lstm"}), model_ids={"xgboost": "v1/xgboost/DEL"})
    engine = ServeEngine(_Handle(features=_Packet()), members, ensemble, member_timeout_s=1.0)
    result = asyncio.run(engine.run(JOB))
    assert calls == {"xgboost": [("predict", "v1/xgboost/DEL")], "lstm": [("predict", "")]}
    assert set(result.members_used) == {"xgboost", "lstm"}


class _Computed(_Method):
    """A handle method whose answer depends on its arguments."""

    def __init__(self, answer) -> None:
        super().__init__(None)
        self._compute = answer

    def remote(self, *args: object) -> _Call:
        return _Call(self._compute(*args))


def test_a_batch_calls_a_per_city_member_once_per_city_and_takes_each_item_from_its_city() -> None:
    class _CityPacket:
        def __init__(self, city: str) -> None:
            self.city, self.features = city, type("F", (_Features,), {"city": city})()

    log: list[tuple[str, str]] = []

    class _PerCity(_RoutedMember):
        def options(self, *, multiplexed_model_id: str) -> "_PerCity":
            city = multiplexed_model_id.rsplit("/", 1)[1]
            marker = {"DEL": 1.0, "MUM": 2.0}[city]  # each city's model answers its own value, None elsewhere
            answer = [np.full((4, 3), marker) if p.city == city else None for p in packets]
            return _PerCity(answer, self._log, multiplexed_model_id)

    packets = [_CityPacket("DEL"), _CityPacket("MUM"), _CityPacket("DEL")]
    ensemble = _Handle(members_needed=frozenset({"xgboost"}))
    ensemble.model_ids = _Computed(lambda version, city: {"xgboost": f"{version}/xgboost/{city}"})  # type: ignore[attr-defined]
    ensemble.combine_many = _Computed(lambda version, items: [(np.full((4, 3), 7.0), {"xgboost": 1.0}) for _ in items])  # type: ignore[attr-defined]
    engine = ServeEngine(_Handle(features_many=packets), {"xgboost": _PerCity(None, log)}, ensemble, member_timeout_s=1.0)
    jobs = [ForecastJob("v1", p.city, JOB.start, 4, 15) for p in packets]
    results = asyncio.run(engine.run_many(jobs))
    assert sorted(log) == [("predict_many", "v1/xgboost/DEL"), ("predict_many", "v1/xgboost/MUM")]
    assert [r.member_forecasts["xgboost"][0, 0] for r in results] == [1.0, 2.0, 1.0]
