"""The engine that drives the Serve graph through DeploymentHandles.

The Preprocessor's response goes to every member without being awaited here (Serve
passes the object reference on); only the members' answers are awaited, each with
``member_timeout_s``, because leaving a slow or dead member out is this engine's job.
"""

from __future__ import annotations

import asyncio
from typing import Any

import numpy as np
from ray.exceptions import RayTaskError
from ray.serve.handle import DeploymentHandle, DeploymentResponse

from data.errors import NotFoundError, PlatformError
from serving.engine import EngineResult, ForecastJob, NoMemberError, describe_failure, member_reports, monotone
from serving.features import ItemError


async def _resolve(response: DeploymentResponse) -> Any:
    return await response


def _cancel(call: DeploymentResponse) -> None:
    """Tell the member to stop working on a request nobody waits for any more."""
    try:
        call.cancel()
    except Exception:  # already finished or failed: nothing to cancel
        pass


def _platform_cause(error: BaseException) -> PlatformError | None:
    """The caller's error inside a deployment failure (e.g. a horizon beyond the model's),
    rebuilt as its plain class with its one-line message (Ray wraps it with a traceback)."""
    innermost: BaseException = error
    while getattr(innermost, "cause", None) is not None:
        innermost = innermost.cause  # type: ignore[attr-defined]
    if not isinstance(innermost, PlatformError):
        return None
    if not isinstance(innermost, RayTaskError):
        return innermost
    plain = next(c for c in type(innermost).__mro__ if issubclass(c, PlatformError) and not issubclass(c, RayTaskError))
    last_line = str(innermost).strip().splitlines()[-1]
    message = last_line.split(": ", 1)[1] if ": " in last_line else last_line
    try:
        return plain(message)
    except TypeError:  # an error class with a richer constructor
        return PlatformError(message)


class ServeEngine:
    def __init__(self, preprocessor: DeploymentHandle, members: dict[str, DeploymentHandle], ensemble: DeploymentHandle,
                 *, member_timeout_s: float) -> None:
        self._pre, self._members, self._ensemble = preprocessor, members, ensemble
        self._timeout = member_timeout_s

    async def run(self, job: ForecastJob) -> EngineResult:
        packet = self._pre.features.remote(job.version, job.city, job.start.isoformat(), job.horizon, job.weather)
        calls = {name: handle.predict.remote(packet) for name, handle in self._members.items()}
        await self._features_ready(packet)  # the members already have the reference; this only starts their clock
        outcomes = await asyncio.gather(
            *(asyncio.wait_for(_resolve(call), self._timeout) for call in calls.values()), return_exceptions=True
        )
        predictions: dict[str, np.ndarray] = {}
        failures: dict[str, str] = {}
        present: list[str] = []
        for (name, call), outcome in zip(calls.items(), outcomes):
            if isinstance(outcome, BaseException):
                if isinstance(outcome, (asyncio.TimeoutError, TimeoutError)):
                    _cancel(call)
                failures[name] = describe_failure(outcome)
                present.append(name)
            elif outcome is not None:  # None: this version has no such member
                predictions[name] = outcome
                present.append(name)
        if not predictions:
            raise NoMemberError("no ensemble member could answer: " + "; ".join(f"{k}: {v}" for k, v in failures.items()))
        quantiles, weights = await self._ensemble.combine.remote(job.version, job.city, predictions)
        return EngineResult(job.timestamps(), monotone(quantiles), member_reports(present, failures, weights), bool(failures))

    @staticmethod
    async def _features_ready(packet: DeploymentResponse) -> None:
        """Wait for the Preprocessor, so ``member_timeout_s`` measures the members alone; a caller's
        error there (say a horizon beyond the model's) becomes its 4xx, anything else a 503."""
        try:
            await packet
        except Exception as error:
            cause = _platform_cause(error)
            if cause is not None:
                raise cause from None
            raise NoMemberError(f"the preprocessor could not build features: {describe_failure(error)}") from None

    async def run_many(self, jobs: list[ForecastJob]) -> list[EngineResult | PlatformError]:
        """One call per deployment for each model version in the batch, instead of one per item."""
        out: list[EngineResult | PlatformError | None] = [None] * len(jobs)
        by_version: dict[str, list[int]] = {}
        for index, job in enumerate(jobs):
            by_version.setdefault(job.version, []).append(index)
        await asyncio.gather(*(self._run_group(version, [jobs[i] for i in indices], indices, out)
                               for version, indices in by_version.items()))
        return [r if r is not None else NoMemberError("not computed") for r in out]

    async def _run_group(self, version: str, jobs: list[ForecastJob], indices: list[int],
                         out: list[EngineResult | PlatformError | None]) -> None:
        specs = [(j.city, j.start.isoformat(), j.horizon, j.weather) for j in jobs]
        packets_response = self._pre.features_many.remote(version, specs)
        calls = {name: handle.predict_many.remote(packets_response) for name, handle in self._members.items()}
        try:
            packets = await packets_response
        except Exception as error:
            for i in indices:
                out[i] = NoMemberError(f"the preprocessor could not build features: {describe_failure(error)}")
            return
        timeout = self._timeout * max(1.0, len(jobs) / 16)  # a batch is many requests' work
        outcomes = await asyncio.gather(*(asyncio.wait_for(_resolve(c), timeout) for c in calls.values()), return_exceptions=True)
        failures = {name: describe_failure(o) for name, o in zip(calls, outcomes) if isinstance(o, BaseException)}
        answered = {name: o for name, o in zip(calls, outcomes) if not isinstance(o, BaseException)}
        combine_items, positions = [], []
        for k, (job, packet) in enumerate(zip(jobs, packets)):
            if isinstance(packet, ItemError):
                out[indices[k]] = NotFoundError(packet.message) if packet.not_found else PlatformError(packet.message)
                continue
            predictions = {name: preds[k] for name, preds in answered.items() if preds[k] is not None}
            if not predictions:
                out[indices[k]] = NoMemberError("no ensemble member could answer: " + "; ".join(f"{n}: {r}" for n, r in failures.items()))
                continue
            combine_items.append((job.city, predictions))
            positions.append(k)
        if not combine_items:
            return
        combined = await self._ensemble.combine_many.remote(version, combine_items)
        present = [name for name in self._members if name in failures or any(p is not None for p in answered.get(name, []))]
        for k, (quantiles, weights) in zip(positions, combined):
            out[indices[k]] = EngineResult(jobs[k].timestamps(), monotone(quantiles), member_reports(present, failures, weights), bool(failures))

    async def warm(self, version: str) -> None:
        calls = [self._pre.warm.remote(version), self._ensemble.warm.remote(version)]
        calls += [handle.warm.remote(version) for handle in self._members.values()]
        await asyncio.gather(*(_resolve(c) for c in calls))
