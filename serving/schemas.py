"""Request and response bodies of HTTP API v1 (docs/contracts.md, "HTTP contract").

Field names are the contract. Shape checks happen here (pydantic answers 422 naming the
field); checks that need the model (is the horizon a whole number of the model's steps?)
raise ``FieldError`` in the service, which the API also answers with 422 naming the field.
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from data.durations import parse_duration_minutes
from data.errors import InvalidFieldError
from data.stores.forecasts import ForecastSummary

ALLOWED_QUANTILES: tuple[float, ...] = (0.1, 0.5, 0.9)
QUANTILE_FIELDS: dict[float, str] = {0.1: "p10", 0.5: "p50", 0.9: "p90"}
MAX_HORIZON_MINUTES = 7 * 24 * 60
MAX_BATCH = 200


#: The service's name for ``InvalidFieldError``: a field fine in shape but not for this city or model.
FieldError = InvalidFieldError


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class WeatherPoint(_Body):
    """User-supplied weather for one interval of the horizon (weather record of docs/contracts.md, "Data contract")."""

    ts: datetime
    temperature_c: float | None = Field(None, ge=-80, le=70, allow_inf_nan=False)
    relative_humidity_pct: float | None = Field(None, ge=0, le=100, allow_inf_nan=False)
    dew_point_c: float | None = Field(None, ge=-90, le=60, allow_inf_nan=False)
    precipitation_mm: float | None = Field(None, ge=0, le=500, allow_inf_nan=False)
    cloud_cover_pct: float | None = Field(None, ge=0, le=100, allow_inf_nan=False)
    wind_speed_kmh: float | None = Field(None, ge=0, le=400, allow_inf_nan=False)
    shortwave_radiation_wm2: float | None = Field(None, ge=0, le=1500, allow_inf_nan=False)


class ForecastRequest(_Body):
    city: str = Field(min_length=1, max_length=32, description="Catalogue code, e.g. DEL.")
    start: datetime | Literal["now"] | None = Field(
        None, description="First interval start; without offset it is the city's local time. 'now': the next block "
                          "boundary (intraday). Default: 00:00 local of the day after the issue time (tomorrow)."
    )
    horizon: int | str | None = Field(
        None, description="Steps (e.g. 96) or a duration ('1d', '12h', '90m'). Default: one day."
    )
    quantiles: list[float] | None = Field(None, min_length=1, max_length=3, description="Subset of 0.1, 0.5, 0.9.")
    weather: list[WeatherPoint] | None = Field(None, max_length=2000, description="Weather for the horizon.")
    model_version: str | None = Field(None, min_length=1, max_length=128, description="Default: the city's production version.")
    as_of: datetime | None = Field(
        None, description="Issue time: only data known strictly before it is used (reproduces a past forecast). "
                          "Without offset it is the city's local time. Default: now."
    )

    @field_validator("city")
    @classmethod
    def _upper(cls, value: str) -> str:
        return value.strip().upper()

    @field_validator("start", "as_of")
    @classmethod
    def _plausible_time(cls, value: datetime | str | None) -> datetime | str | None:
        if isinstance(value, datetime) and not 1990 <= value.year <= 2200:
            raise ValueError("must be between years 1990 and 2200")
        return value

    @field_validator("horizon")
    @classmethod
    def _horizon_shape(cls, value: int | str | None) -> int | str | None:
        if value is None:
            return None
        if isinstance(value, int):
            if value < 1:
                raise ValueError("must be at least 1 step")
            return value
        if parse_duration_minutes(value) is None:
            raise ValueError("must be a step count or a duration like '1d', '12h', '90m'")
        return value

    @field_validator("quantiles")
    @classmethod
    def _known_quantiles(cls, value: list[float] | None) -> list[float] | None:
        if value is None:
            return None
        for q in value:
            if not any(math.isclose(q, allowed) for allowed in ALLOWED_QUANTILES):
                raise ValueError(f"{q} is not one of {', '.join(map(str, ALLOWED_QUANTILES))}")
        normalised = sorted({min(ALLOWED_QUANTILES, key=lambda a: abs(a - q)) for q in value})
        if len(normalised) != len(value):
            raise ValueError("must not repeat a quantile")
        return normalised


def horizon_steps(horizon: int | str | None, resolution_minutes: int) -> int:
    """The horizon in model steps; raises FieldError('horizon') when it does not fit."""
    steps_per_day = 1440 // resolution_minutes
    if horizon is None:
        return steps_per_day
    if isinstance(horizon, int):
        steps = horizon
    else:
        minutes = parse_duration_minutes(horizon) or 0
        if minutes == 0 or minutes % resolution_minutes:
            raise FieldError("horizon", f"{horizon!r} is not a whole number of {resolution_minutes}-minute steps")
        steps = minutes // resolution_minutes
    max_steps = MAX_HORIZON_MINUTES // resolution_minutes
    if not 1 <= steps <= max_steps:
        raise FieldError("horizon", f"must be between 1 and {max_steps} steps (7 days), got {steps}")
    return steps


class BatchRequest(_Body):
    requests: list[ForecastRequest] = Field(min_length=1, max_length=MAX_BATCH, description="One forecast per item.")


class ForecastPoint(BaseModel):
    ts: datetime
    p10: float | None = None
    p50: float | None = None
    p90: float | None = None


class MemberReport(BaseModel):
    name: str
    used: bool
    weight: float = Field(description="Weight in the ensemble after renormalisation (0 when left out).")
    reason: str | None = Field(None, description="Why the member was left out.")
    skipped: bool = Field(False, description="Not run: its weight for the city is 0, so it cannot change the "
                          "answer (not a degradation).")


class ForecastResponse(BaseModel):
    city: str
    issued_at: datetime
    as_of: datetime = Field(description="The issue time: no data at or after it was used.")
    data_until: datetime | None = Field(description="End of the last observed load block the forecast used.")
    resolution_minutes: int
    model_version: str
    degraded: bool
    cached: bool
    points: list[ForecastPoint]
    members: list[MemberReport] | None = None
    notes: list[str] | None = Field(None, description="What was filled or missing (climatology weather, no recent load).")


class BatchItem(BaseModel):
    index: int
    city: str
    status: int = Field(description="HTTP status this item would have had on its own.")
    forecast: ForecastResponse | None = None
    error: str | None = None


class BatchResponse(BaseModel):
    results: list[BatchItem]


class ActualPoint(BaseModel):
    ts: datetime = Field(description="Start of the block, in the city's timezone.")
    load_mw: float = Field(description="Average load over the block as stored (quality flags not applied).")


class ActualsOut(BaseModel):
    city: str
    points: list[ActualPoint]


class StoredForecastOut(ForecastSummary):
    """One forecast of the forecast store (``GET /v1/forecasts``), times in the city's timezone;
    ``blocks`` counts the blocks listed (those inside the window asked for)."""

    points: list[ForecastPoint]


class CityOut(BaseModel):
    code: str
    name: str
    country: str
    subdivision: str | None
    timezone: str
    latitude: float
    longitude: float
    peak_mw: float


class ModelOut(BaseModel):
    version: str
    cities: list[str] = Field(default_factory=list)
    stage: str | None = None
    production_for: list[str] = Field(default_factory=list)
    created_at: datetime | None = None
    promoted_by: str | None = Field(None, description="Who made its latest promotion in force: an admin's principal id or a CLI user.")


class PromoteRequest(_Body):
    force: bool = False


class KeyOut(BaseModel):
    id: str
    name: str
    role: Literal["viewer", "forecaster", "admin"]
    created_at: datetime
    revoked_at: datetime | None = None
    rate_limit_per_minute: int | None = None
    expires_at: datetime | None = Field(None, description="After this the key is refused (401); None: it never expires.")


class Health(BaseModel):
    status: Literal["ok"]
    auth: Literal["enabled", "disabled"]
    warning: str | None = None


class Ready(BaseModel):
    ready: bool
    detail: str
