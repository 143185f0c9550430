"""The range of timestamps an ingest accepts: a year-2204 row is a typo, not a forecast.

Bounds come from the ``ingest`` section of ``platform.yaml``: nothing before ``earliest``,
nothing more than ``future_days`` ahead of now (load, observed weather, supply), and
weather forecasts up to ``forecast_future_days`` ahead, since they describe the future.
A row outside is rejected like any bad row: quarantined with its line, column and why.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone

import numpy as np
import pandas as pd

from data.settings import IngestSettings
from data.validation.verdicts import Verdicts

NAT = np.iinfo(np.int64).min
CODE = "timestamp_out_of_range"


@dataclass(frozen=True)
class TimeRange:
    """Accepted UTC timestamps: ``earliest <= ts <= latest`` (``latest_forecast`` for forecasts)."""

    earliest: pd.Timestamp
    latest: pd.Timestamp
    latest_forecast: pd.Timestamp

    @classmethod
    def from_settings(cls, ingest: IngestSettings, now: datetime | None = None) -> "TimeRange":
        now_ts = pd.Timestamp(now or datetime.now(timezone.utc))
        return cls(
            earliest=pd.Timestamp(ingest.earliest, tz="UTC"),
            latest=now_ts + pd.Timedelta(days=ingest.future_days),
            latest_forecast=now_ts + pd.Timedelta(days=ingest.forecast_future_days),
        )

    def reject_outside(self, ts_us: np.ndarray, v: Verdicts, field: str, *, forecast: np.ndarray | None = None) -> None:
        """Reject the rows of ``ts_us`` (µs since the epoch, NaT skipped) outside the range."""
        is_forecast = np.zeros(len(ts_us), dtype=bool) if forecast is None else np.asarray(forecast, dtype=bool)
        latest_us = np.where(is_forecast, _us(self.latest_forecast), _us(self.latest))
        present = ts_us != NAT
        v.reject(present & (ts_us < _us(self.earliest)), CODE, lambda index: [
            f"timestamp {_iso(ts_us[i])} is before {self.earliest.date()} (ingest.earliest)" for i in index], field)
        v.reject(present & (ts_us > latest_us), CODE, lambda index: [
            f"timestamp {_iso(ts_us[i])} is after {_iso(latest_us[i])}, too far ahead "
            f"({'ingest.forecast_future_days' if is_forecast[i] else 'ingest.future_days'})" for i in index], field)


def _us(ts: pd.Timestamp) -> int:
    return int(ts.value // 1000)  # ``value`` is in ns whatever the unit


def _iso(us: int) -> str:
    return pd.Timestamp(int(us), unit="us", tz="UTC").isoformat(timespec="minutes")
