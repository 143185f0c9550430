"""Error -> HTTP status by class alone (serving/api/errors.py): each error class maps to its
status and field whatever its message says, and the handlers add the headers clients rely on."""

from __future__ import annotations

import pickle

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from data.errors import ConflictError, InvalidFieldError, NotFoundError, PlatformError, ServiceUnavailableError
from serving.api import error_status
from serving.api.errors import install_error_handlers
from serving.auth import AuthError, RoleError
from serving.auth.keys import KeyRequestError
from serving.auth.ratelimit import RateLimitedError
from serving.schemas import FieldError, horizon_steps
from training.forecast import NoMemberError
from training.preprocessor import CityNotInModelError, ForecastInputError


def _loc(detail: object) -> list[str]:
    assert isinstance(detail, list) and len(detail) == 1 and detail[0]["type"] == "value_error"
    return detail[0]["loc"]


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (NotFoundError("model version 'horizon-2024' is not registered"), 404),  # says "horizon", is a 404
        (CityNotInModelError("city", "'BLR' is not covered by this model (trained on DEL, MUM)"), 404),
        (NoMemberError("no ensemble member could answer: xgboost: timed out"), 503),
        (ServiceUnavailableError("the registry cannot be read"), 503),
        (ConflictError("20240101T000000Z-abc does not beat production on the horizon"), 409),
    ],
)
def test_errors_with_a_plain_status_carry_their_message(error: PlatformError, status: int) -> None:
    assert error_status(error) == (status, str(error))


@pytest.mark.parametrize(
    ("error", "loc"),
    [
        (ForecastInputError("horizon", "200 steps is outside 1..96 for this model"), ["body", "horizon"]),
        (ForecastInputError("city", "'DEL' has 15-minute data but the model was trained at 60 minutes"), ["body", "city"]),
        (FieldError("start", "2024-04-05T00:07:00 is not on a 15-minute block boundary"), ["body", "start"]),
        (FieldError("weather.3.ts", "2024-04-09T00:00:00Z is outside the forecast window"), ["body", "weather", "3", "ts"]),
        (InvalidFieldError("start", "the horizon needs more history before it"), ["body", "start"]),  # text says horizon
    ],
)
def test_a_field_error_names_its_field_not_a_word_in_its_message(error: InvalidFieldError, loc: list[str]) -> None:
    status, detail = error_status(error)
    assert status == 422 and _loc(detail) == loc and detail[0]["msg"] == error.message


def test_the_service_horizon_check_is_a_field_error_on_horizon() -> None:
    with pytest.raises(FieldError) as raised:
        horizon_steps("20m", 15)
    assert error_status(raised.value)[0] == 422 and _loc(error_status(raised.value)[1]) == ["body", "horizon"]


@pytest.mark.parametrize("error", [PlatformError("not enough history before the horizon"), KeyRequestError("name: must not be empty")])
def test_any_other_platform_error_is_the_callers_422_on_the_whole_body(error: PlatformError) -> None:
    status, detail = error_status(error)
    assert status == 422 and _loc(detail) == ["body"] and detail[0]["msg"] == str(error)


def test_an_error_that_is_not_a_platform_error_is_not_mapped() -> None:
    with pytest.raises(KeyError):
        error_status(KeyError("a bug, so a 500"))


def test_the_city_a_model_lacks_is_a_404_first_and_keeps_the_not_found_exit_code() -> None:
    error = CityNotInModelError("city", "'BLR' is not covered by this model")
    assert isinstance(error, InvalidFieldError) and error.exit_code == NotFoundError.exit_code


def test_field_errors_keep_class_and_field_across_pickling() -> None:
    """A Preprocessor replica's error reaches the ingress pickled inside a Ray task error."""
    for error in (ForecastInputError("horizon", "200 steps is outside 1..96"), CityNotInModelError("city", "'BLR' is not covered")):
        copy = pickle.loads(pickle.dumps(error))
        assert type(copy) is type(error) and (copy.field, copy.message, str(copy)) == (error.field, error.message, str(error))


def test_handlers_answer_each_error_with_its_status_and_headers() -> None:
    raised: dict[str, Exception] = {
        "auth": AuthError("invalid API key"),
        "role": RoleError("role 'viewer' may not do this; needs 'admin'"),
        "limited": RateLimitedError(7),
        "missing": NotFoundError("no horizon here"),
        "field": ForecastInputError("horizon", "200 steps is outside 1..96 for this model"),
    }
    app = FastAPI()
    install_error_handlers(app)

    @app.get("/{name}")
    async def fail(name: str) -> None:
        raise raised[name]

    with TestClient(app) as client:
        auth = client.get("/auth")
        assert auth.status_code == 401 and auth.headers["WWW-Authenticate"] == 'Bearer, ApiKey header="X-API-Key"'
        assert auth.json() == {"detail": "invalid API key"}
        assert client.get("/role").status_code == 403
        limited = client.get("/limited")
        assert limited.status_code == 429 and limited.headers["Retry-After"] == "7"
        assert limited.json() == {"detail": "rate limit exceeded"}
        assert client.get("/missing").json() == {"detail": "no horizon here"} and client.get("/missing").status_code == 404
        field = client.get("/field")
        assert field.status_code == 422 and field.json()["detail"][0]["loc"] == ["body", "horizon"]
