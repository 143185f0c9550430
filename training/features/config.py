"""Feature settings (``features:`` in the training YAML), read by the preprocessor and every feature builder.

Its own module so the feature code below ``training.config`` can import it without a cycle.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class FeatureConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    history_days: int = Field(2, ge=1, le=14, description="Days of load history the sequence members read before the issue time.")
    lag_days: list[int] = Field([1, 2, 7], description="Same-block load lags in days; lags shorter than the horizon are dropped (no leakage).")
    origins_per_day: int = Field(4, ge=1, le=96, description="Training issue times per local day: 00:00 and every (steps per day // N) steps after, so intraday forecasts are learnt too.")
    issue_hours: list[float] = Field([0.0, 10.0], description="Local hours at which day-ahead forecasts are issued (10:00 is the operational D-1 submission); every window trains and scores on them.")
    max_lead_hours: float = Field(48.0, gt=0, le=168, description="Longest lead (last known load to the first forecast step) trained for; a request beyond it is refused, naming start.")
    festival_keywords: list[str] = Field(
        ["diwali", "deepavali", "holi", "dussehra", "vijaya", "pongal", "onam", "eid", "id-ul", "christmas", "ganesh", "durga", "navratri", "new year"],
        description="Holiday names (lower-case substrings) whose surroundings count as a festival window.",
    )
    festival_window_days: int = Field(3, ge=0, le=15, description="Days either side of a festival that form its window.")
    holiday_clip_days: int = Field(30, ge=1, description="Days-to/from-holiday features are clipped here.")
    cooling_base_c: float = Field(24.0, description="Base temperature of cooling degree hours.")
    heating_base_c: float = Field(18.0, description="Base temperature of heating degree hours.")
