"""Which HTTP status an error becomes, decided by its class alone (docs/contracts.md, "HTTP contract").

Messages are for people and get reworded; the class, and ``InvalidFieldError.field``, are
what the API reads. Errors a caller can fix never become 500.

    NotFoundError            404  (checked first: CityNotInModelError also names its field)
    ServiceUnavailableError  503  (NoMemberError: no ensemble member could answer)
    ConflictError            409
    InvalidFieldError        422  loc ["body", *field.split(".")]
    any other PlatformError  422  loc ["body"]
    AuthError                401  with WWW-Authenticate
    RoleError                403
    RateLimitedError         429  with Retry-After
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from data.errors import ConflictError, InvalidFieldError, NotFoundError, PlatformError, ServiceUnavailableError
from serving.auth import AuthError, RoleError
from serving.auth.ratelimit import RateLimitedError

#: The error statuses routes declare in OpenAPI.
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    code: {"description": text} for code, text in {
        401: "No or bad credentials", 403: "Role too low", 404: "Unknown city or version", 413: "Body too large",
        422: "Invalid field (named in detail)", 429: "Rate limited (see Retry-After)", 503: "No member can answer",
    }.items()
}
WWW_AUTHENTICATE = 'Bearer, ApiKey header="X-API-Key"'

# Order matters where a class inherits from two of these: the first match wins.
_PLAIN_STATUS: tuple[tuple[type[PlatformError], int], ...] = (
    (NotFoundError, 404),
    (ServiceUnavailableError, 503),
    (ConflictError, 409),
)


def _value_error(loc: list[str], message: str) -> list[dict[str, Any]]:
    """The shape of FastAPI's own 422 detail, so clients parse one format for both."""
    return [{"loc": loc, "msg": message, "type": "value_error"}]


def error_status(error: BaseException) -> tuple[int, Any]:
    """HTTP status and ``detail`` for a ``PlatformError``; anything else is re-raised (a bug, so a 500)."""
    for error_class, status in _PLAIN_STATUS:
        if isinstance(error, error_class):
            return status, str(error)
    if isinstance(error, InvalidFieldError):
        return 422, _value_error(["body", *error.field.split(".")], error.message)
    if isinstance(error, PlatformError):
        return 422, _value_error(["body"], str(error))
    raise error


async def _unauthorised(_: Request, error: Exception) -> JSONResponse:
    return JSONResponse({"detail": str(error)}, status_code=401, headers={"WWW-Authenticate": WWW_AUTHENTICATE})


async def _forbidden(_: Request, error: Exception) -> JSONResponse:
    return JSONResponse({"detail": str(error)}, status_code=403)


async def _rate_limited(_: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, RateLimitedError)
    return JSONResponse({"detail": "rate limit exceeded"}, status_code=429, headers={"Retry-After": str(error.retry_after_s)})


async def _platform(_: Request, error: Exception) -> JSONResponse:
    status, detail = error_status(error)
    return JSONResponse({"detail": detail}, status_code=status)


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(AuthError, _unauthorised)
    app.add_exception_handler(RoleError, _forbidden)
    app.add_exception_handler(RateLimitedError, _rate_limited)
    app.add_exception_handler(PlatformError, _platform)
