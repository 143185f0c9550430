"""The engine that drives the Serve graph through DeploymentHandles.

The Preprocessor's response goes to every member without being awaited here (Serve
passes the object reference on); only the members' answers are awaited, each with
``member_timeout_s``, because leaving a slow or dead member out is the forecast core's
rule (``training.forecast``): this engine is its transport. Members whose weight for the
city is zero are not called (they cannot change the answer) unless every other one
fails. The Preprocessor and the Ensemble get ``stage_timeout_s``; past it, or when their
replica dies, the request is a 503. Each stage is timed for the ``Server-Timing`` header.

A member that the version trained per city is called with the city's model id as the
request's ``multiplexed_model_id`` (the Ensemble says which members those are, once per
version and city), so Serve sends the city to a replica that already holds its model and
that replica loads only that city's; a batch request calls such a member once per city.
"""

from __future__ import annotations

import asyncio
from typing import Any, TypeVar

from ray.exceptions import RayTaskError
from ray.serve.handle import DeploymentHandle, DeploymentResponse

from data.errors import NotFoundError, PlatformError
from serving.engines.base import ForecastJob
from serving.features import ItemError
from serving.timing import span
from training.forecast import EnsembleForecast, MemberOutcomes, NoMemberError, describe_failure, split_needed

K = TypeVar("K")


async def _resolve(response: DeploymentResponse) -> Any:
    return await response


def _cancel(call: DeploymentResponse) -> None:
    """Tell the member to stop working on a request nobody waits for any more."""
    try:
        call.cancel()
    except Exception:  # nosec B110: already finished or failed, so there is nothing to cancel
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


async def _answers(calls: dict[K, DeploymentResponse], timeout_s: float) -> dict[K, Any]:
    """Each member's answer, or the exception it ended with; a timed-out call is cancelled."""
    outcomes = await asyncio.gather(*(asyncio.wait_for(_resolve(c), timeout_s) for c in calls.values()),
                                    return_exceptions=True)
    for call, outcome in zip(calls.values(), outcomes):
        if isinstance(outcome, (asyncio.TimeoutError, TimeoutError)):
            _cancel(call)
    return dict(zip(calls, outcomes))


class ServeEngine:
    def __init__(self, preprocessor: DeploymentHandle, members: dict[str, DeploymentHandle], ensemble: DeploymentHandle,
                 *, member_timeout_s: float, stage_timeout_s: float = 10.0) -> None:
        self._pre, self._members, self._ensemble = preprocessor, members, ensemble
        self._timeout = member_timeout_s
        self._stage_timeout = stage_timeout_s
        self._needed: dict[tuple[str, str], frozenset[str]] = {}  # (version, city) -> members with weight
        self._routes: dict[tuple[str, str], dict[str, str]] = {}  # (version, city) -> member -> city model id

    def _member(self, name: str, routes: dict[str, str]) -> DeploymentHandle:
        """Member ``name``'s handle, routed to the city's own model when the version has one for it."""
        handle = self._members[name]
        return handle.options(multiplexed_model_id=routes[name]) if name in routes else handle

    async def run(self, job: ForecastJob) -> EnsembleForecast:
        as_of = None if job.as_of is None else job.as_of.isoformat()
        needed, routes = await asyncio.gather(self._members_needed(job.version, job.city),
                                              self._model_ids(job.version, job.city))
        first, held_back = split_needed(self._members, needed)
        packet = self._pre.features.remote(job.version, job.city, job.start.isoformat(), job.horizon, job.weather, as_of)
        calls = {name: self._member(name, routes).predict.remote(packet) for name in first}
        with span("preprocessor"):
            features = await self._stage(packet, "the preprocessor could not build features", caller_errors=True)
        with span("members"):  # the members already have the reference; this only starts their clock
            outcomes = MemberOutcomes.collect(await _answers(calls, self._timeout), skipped=held_back)
            if outcomes.needs_fallback:
                fallback = {name: self._member(name, routes).predict.remote(packet) for name in held_back}
                outcomes = outcomes.with_fallback(await _answers(fallback, self._timeout))
        outcomes.require_any(job.city)
        with span("ensemble"):
            quantiles, weights = await self._stage(
                self._ensemble.combine.remote(job.version, job.city, outcomes.predictions, features.features.lead_steps),
                "the ensemble could not combine the members' forecasts")
        return outcomes.finish(job.version, features.features, quantiles, weights)

    async def _members_needed(self, version: str, city: str) -> frozenset[str] | None:
        """The members worth calling for ``city`` in ``version``, asked of the Ensemble once per pair;
        None (call every member) when the Ensemble cannot say."""
        key = (version, city)
        if key not in self._needed:
            try:
                self._needed[key] = await asyncio.wait_for(
                    _resolve(self._ensemble.members_needed.remote(version, city)), self._stage_timeout)
            except Exception:  # the Ensemble is down or slow: the combine step will say so; don't guess
                return None
        return self._needed[key]

    async def _model_ids(self, version: str, city: str) -> dict[str, str]:
        """Member -> ``city``'s model id for the members ``version`` trained per city, asked of the Ensemble
        once per pair; none (each member routed by version, where it loads the city's model itself)
        when the Ensemble cannot say."""
        key = (version, city)
        if key not in self._routes:
            try:
                self._routes[key] = await asyncio.wait_for(
                    _resolve(self._ensemble.model_ids.remote(version, city)), self._stage_timeout)
            except Exception:  # the Ensemble is down or slow: the combine step will say so
                return {}
        return self._routes[key]

    async def _stage(self, call: DeploymentResponse, failure: str, *, caller_errors: bool = False) -> Any:
        """A Preprocessor or Ensemble answer within ``stage_timeout_s``. Its failure is ours, not the
        caller's (a 503, never a 500), except a caller's own error raised in the Preprocessor
        (say a horizon beyond the model's), which becomes its 4xx."""
        try:
            return await asyncio.wait_for(_resolve(call), self._stage_timeout)
        except Exception as error:
            if isinstance(error, (asyncio.TimeoutError, TimeoutError)):
                _cancel(call)
            cause = _platform_cause(error) if caller_errors else None
            if cause is not None:
                raise cause from None
            raise NoMemberError(f"{failure}: {describe_failure(error)}") from None

    async def run_many(self, jobs: list[ForecastJob]) -> list[EnsembleForecast | PlatformError]:
        """One call per deployment for each model version in the batch, instead of one per item."""
        out: list[EnsembleForecast | PlatformError | None] = [None] * len(jobs)
        by_version: dict[str, list[int]] = {}
        for index, job in enumerate(jobs):
            by_version.setdefault(job.version, []).append(index)
        await asyncio.gather(*(self._run_group(version, [jobs[i] for i in indices], indices, out)
                               for version, indices in by_version.items()))
        return [r if r is not None else NoMemberError("not computed") for r in out]

    async def _run_group(self, version: str, jobs: list[ForecastJob], indices: list[int],
                         out: list[EnsembleForecast | PlatformError | None]) -> None:
        """Members needed by any city of the batch run once over all its items (a per-city member
        once per city, routed to that city's model); the held-back ones run only if some item is
        left with no member."""
        scale = max(1.0, len(jobs) / 16)  # a batch is many requests' work
        cities = sorted({j.city for j in jobs})
        needed_per_city, routes_per_city = await asyncio.gather(
            asyncio.gather(*(self._members_needed(version, city) for city in cities)),
            asyncio.gather(*(self._model_ids(version, city) for city in cities)))
        needed = None if any(n is None for n in needed_per_city) else frozenset().union(*needed_per_city)
        routes = dict(zip(cities, routes_per_city))
        first, held_back = split_needed(self._members, needed)
        specs = [(j.city, j.start.isoformat(), j.horizon, j.weather, None if j.as_of is None else j.as_of.isoformat())
                 for j in jobs]
        packets_response = self._pre.features_many.remote(version, specs)

        def member_calls(names: list[str], packets: Any) -> dict[tuple[str, str | None], DeploymentResponse]:
            """(member, city) -> its call; city None: one call over every item (a member over all cities)."""
            calls: dict[tuple[str, str | None], DeploymentResponse] = {}
            for name in names:
                if any(name in routes[city] for city in cities):
                    calls.update({(name, city): self._member(name, routes[city]).predict_many.remote(packets) for city in cities})
                else:
                    calls[(name, None)] = self._members[name].predict_many.remote(packets)
            return calls

        calls = member_calls(first, packets_response)
        try:
            packets = await asyncio.wait_for(_resolve(packets_response), self._stage_timeout * scale)
        except Exception as error:
            for call in calls.values():
                _cancel(call)
            for i in indices:
                out[i] = NoMemberError(f"the preprocessor could not build features: {describe_failure(error)}")
            return
        answers = await _answers(calls, self._timeout * scale)

        def item_outcomes(k: int, answered: dict[tuple[str, str | None], Any], skipped: list[str]) -> MemberOutcomes:
            mine = {name: a for (name, city), a in answered.items() if city in (None, jobs[k].city)}
            return MemberOutcomes.collect(
                {name: a if isinstance(a, BaseException) else a[k] for name, a in mine.items()}, skipped=skipped)

        valid = [k for k, packet in enumerate(packets) if not isinstance(packet, ItemError)]
        if held_back and any(item_outcomes(k, answers, held_back).needs_fallback for k in valid):
            answers = {**answers, **await _answers(member_calls(held_back, packets), self._timeout * scale)}
            held_back = []
        per_item: list[tuple[int, MemberOutcomes]] = []
        for k, (job, packet) in enumerate(zip(jobs, packets)):
            if isinstance(packet, ItemError):
                out[indices[k]] = NotFoundError(packet.message) if packet.not_found else PlatformError(packet.message)
                continue
            outcomes = item_outcomes(k, answers, held_back)
            try:
                outcomes.require_any(job.city)
            except NoMemberError as error:
                out[indices[k]] = error
                continue
            per_item.append((k, outcomes))
        if not per_item:
            return
        try:
            combined = await self._stage(self._ensemble.combine_many.remote(
                version, [(jobs[k].city, outcomes.predictions, packets[k].features.lead_steps) for k, outcomes in per_item]),
                "the ensemble could not combine the members' forecasts")
        except NoMemberError as error:
            for k, _ in per_item:
                out[indices[k]] = error
            return
        for (k, outcomes), (quantiles, weights) in zip(per_item, combined):
            out[indices[k]] = outcomes.finish(version, packets[k].features, quantiles, weights)

    async def warm(self, version: str) -> None:
        calls = [self._pre.warm.remote(version), self._ensemble.warm.remote(version)]
        calls += [handle.warm.remote(version) for handle in self._members.values()]
        await asyncio.gather(*(_resolve(c) for c in calls))
