"""What a route declares it needs: the replica's state, and a caller of at least some role.

One dependency per role authenticates, checks the role and takes a rate-limit token, so a
route cannot do one of the three without the others; the caller id it records is what the
access log prints.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, Header, Request
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from serving.api.state import ServiceState
from serving.auth import Principal, Role
from serving.auth.ratelimit import RateLimitedError

# auto_error=False: a missing credential is the Authenticator's 401 (with its message), not FastAPI's 403.
_api_key = APIKeyHeader(name="X-API-Key", auto_error=False, description="API key from `efp keys create`.")
_bearer = HTTPBearer(auto_error=False, description="JWT with a `role` claim (viewer, forecaster, admin).")


def _state(request: Request) -> ServiceState:
    return request.app.state.efp


State = Annotated[ServiceState, Depends(_state)]


def client_address(request: Request) -> str:
    """The peer address as the server saw it; a forwarded-for header is not trusted (anyone can send one)."""
    return request.client.host if request.client is not None else "unknown"


async def _take(state: ServiceState, bucket: str, per_minute: int) -> None:
    decision = await state.limiter.take(bucket, per_minute)
    if not decision.allowed:
        state.metrics.rate_limited.inc()
        raise RateLimitedError(decision.retry_after_s)


def caller(role: Role) -> Callable[..., Awaitable[Principal]]:
    """Dependency: a token of the client address's budget, then authenticate, check ``role`` and
    take a token of the credential's budget; the caller id goes to the access log.

    The address budget comes first so that made-up credentials are refused before they cost
    a key lookup (issue 11, finding 2)."""

    async def dependency(
        request: Request,
        state: State,
        api_key: Annotated[str | None, Depends(_api_key)] = None,
        bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)] = None,
        authorization: Annotated[str | None, Header(include_in_schema=False)] = None,
    ) -> Principal:
        if state.auth.enabled:
            await _take(state, f"addr:{client_address(request)}", state.settings.serve.rate_limit_per_address_per_minute)
        principal = await state.auth.authenticate(authorization, api_key)
        request.state.caller = principal.id
        principal.require(role)
        if not state.auth.enabled:  # no credentials, so no per-credential budget to keep
            return principal
        await _take(state, principal.id, principal.rate_limit_per_minute or state.settings.serve.rate_limit_per_minute)
        return principal

    return dependency


Viewer = Annotated[Principal, Depends(caller("viewer"))]
Forecaster = Annotated[Principal, Depends(caller("forecaster"))]
Admin = Annotated[Principal, Depends(caller("admin"))]
