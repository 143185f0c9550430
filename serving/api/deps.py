"""What a route declares it needs: the replica's state, and a caller of at least some role.

One dependency per role authenticates, checks the role and charges the rate limit, so a
route cannot do one of the three without the others; the caller id it records is what the
access log prints. Most routes cost one token; the forecast routes take a ``Metered``
caller instead, whose ``charge`` the service calls with the request's cost (its work:
``serving.service.forecast_cost``) once it knows it and before any work starts.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Header, Request
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from serving.api.state import ServiceState
from serving.auth import Principal, Role
from serving.auth.ratelimit import RateLimitedError
from serving.service import Charge

# auto_error=False: a missing credential is the Authenticator's 401 (with its message), not FastAPI's 403.
_api_key = APIKeyHeader(name="X-API-Key", auto_error=False, description="API key from `efp keys create`.")
_bearer = HTTPBearer(auto_error=False, description="JWT with a `role` claim (viewer, forecaster, admin).")


async def _state(request: Request) -> ServiceState:
    """Async although it awaits nothing: FastAPI runs a plain ``def`` dependency in its thread pool,
    a thread hop per request that was 5 % of the ingress's CPU on the uncached path."""
    return request.app.state.efp


State = Annotated[ServiceState, Depends(_state)]


def client_address(request: Request) -> str:
    """The peer address as the server saw it; a forwarded-for header is not trusted (anyone can send one)."""
    return request.client.host if request.client is not None else "unknown"


async def _take(state: ServiceState, bucket: str, per_minute: int, cost: float = 1.0) -> None:
    decision = await state.limiter.take(bucket, per_minute, cost)
    if not decision.allowed:
        state.metrics.rate_limited.inc()
        raise RateLimitedError(decision.retry_after_s)


@dataclass(frozen=True)
class Metered:
    """An authenticated caller whose request is charged by its work, through ``charge``."""

    principal: Principal
    charge: Charge

    def use_cache(self, cache_control: str | None) -> bool:
        """``Cache-Control: no-cache`` skips the response cache only for a role that may compute fresh
        forecasts (``Principal.may_bypass_cache``); anyone else is answered from the cache regardless."""
        wants_fresh = "no-cache" in (cache_control or "").lower()
        return not (wants_fresh and self.principal.may_bypass_cache)


def _charger(state: ServiceState, principal: Principal) -> Charge:
    async def charge(cost: float) -> None:
        if state.auth.enabled:  # auth off: no credentials, so no per-credential budget to keep
            await _take(state, principal.id, principal.rate_limit_per_minute or state.settings.serve.rate_limit_per_minute, cost)

    return charge


def metered_caller(role: Role) -> Callable[..., Awaitable[Metered]]:
    """Dependency: a token of the client address's budget, then authenticate and check ``role``;
    the credential's budget is charged later, by the work (``Metered.charge``).

    The address budget comes first so that made-up credentials are refused before they cost
    a key lookup (issue 11, finding 2)."""

    async def dependency(
        request: Request,
        state: State,
        api_key: Annotated[str | None, Depends(_api_key)] = None,
        bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)] = None,
        authorization: Annotated[str | None, Header(include_in_schema=False)] = None,
    ) -> Metered:
        if state.auth.enabled:
            await _take(state, f"addr:{client_address(request)}", state.settings.serve.rate_limit_per_address_per_minute)
        principal = await state.auth.authenticate(authorization, api_key)
        request.state.caller = principal.id
        principal.require(role)
        return Metered(principal, _charger(state, principal))

    return dependency


def caller(role: Role) -> Callable[..., Awaitable[Principal]]:
    """Dependency: ``metered_caller(role)`` charged one token at once (what a route costs that computes nothing)."""

    # A plain default, not Annotated: under postponed annotations FastAPI could not resolve ``role`` in a string.
    async def dependency(metered: Metered = Depends(metered_caller(role))) -> Principal:
        await metered.charge(1.0)
        return metered.principal

    return dependency


Viewer = Annotated[Principal, Depends(caller("viewer"))]
Forecaster = Annotated[Principal, Depends(caller("forecaster"))]
Admin = Annotated[Principal, Depends(caller("admin"))]
#: A forecaster whose forecast request is charged by its work (``serving.service.forecast_cost``).
MeteredForecaster = Annotated[Metered, Depends(metered_caller("forecaster"))]
