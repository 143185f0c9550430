"""Open-Meteo hourly JSON (archive or forecast API response) as weather records.

``hourly.time`` is local time in the response's ``timezone`` (the API's ``timezone``
parameter; ``GMT`` when not asked), so it is localised with that zone, or with
``utc_offset_seconds`` when the name is not an IANA zone. Units are read from
``hourly_units`` and converted to the contract's (degC, km/h).
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np
import pandas as pd

from data.connectors.files import read_text
from data.connectors.parsing import RowErrors, refuse_if_unusable
from data.errors import InputFileError
from data.records import SourceBatch

VARIABLES = {
    "temperature_2m": "temperature_c",
    "relative_humidity_2m": "relative_humidity_pct",
    "dew_point_2m": "dew_point_c",
    "precipitation": "precipitation_mm",
    "cloud_cover": "cloud_cover_pct",
    "wind_speed_10m": "wind_speed_kmh",
    "shortwave_radiation": "shortwave_radiation_wm2",
}
#: Unit conversions to the contract's units: unit -> (scale, offset).
UNITS = {
    "°F": (5 / 9, -32 * 5 / 9), "mp/h": (1.609344, 0.0), "m/s": (3.6, 0.0), "kn": (1.852, 0.0),
    "inch": (25.4, 0.0),
}


def _zone(payload: dict, path: str):
    name = payload.get("timezone") or "GMT"
    try:
        return ZoneInfo("UTC" if name == "GMT" else name)
    except (ZoneInfoNotFoundError, ValueError):
        offset = payload.get("utc_offset_seconds")
        if not isinstance(offset, int):
            raise InputFileError(path, f"unknown timezone {name!r} and no utc_offset_seconds", column="timezone") from None
        return dt.timezone(dt.timedelta(seconds=offset))


def read_open_meteo(
    path: str | Path,
    *,
    city: str | None,
    kind: str = "observed",
    issued_at: dt.datetime | None = None,
    **_: object,
) -> SourceBatch:
    """Hourly weather of one city; ``kind="forecast"`` needs ``issued_at``."""
    path = str(path)
    if not city:
        raise InputFileError(path, "an Open-Meteo file names no city: pass one (--city CODE)")
    if kind not in ("observed", "forecast"):
        raise InputFileError(path, f"kind must be observed or forecast, not {kind!r}")
    if kind == "forecast" and issued_at is None:
        raise InputFileError(path, "a forecast needs issued_at")
    return open_meteo_batch(read_text(path), path, city=city, kind=kind, issued_at=issued_at)


def open_meteo_batch(text: str, path: str, *, city: str, kind: str = "observed",
                     issued_at: dt.datetime | None = None) -> SourceBatch:
    """An Open-Meteo response body as weather records; ``path`` names where it came from in errors
    (a file, or the URL when ``efp weather fetch`` called the API)."""
    try:
        payload = json.loads(text)
    except json.JSONDecodeError as error:
        raise InputFileError(path, f"not JSON ({error.msg})", line=error.lineno, column=f"char {error.colno}") from None
    hourly = payload.get("hourly") if isinstance(payload, dict) else None
    if not isinstance(hourly, dict) or not isinstance(hourly.get("time"), list):
        raise InputFileError(path, "missing required field 'hourly.time'", column="hourly.time")
    times = hourly["time"]
    if not times:
        raise InputFileError(path, "no hourly values", column="hourly.time")
    present = [name for name in VARIABLES if name in hourly]
    if not present:
        raise InputFileError(path, f"no known hourly variable (expected one of {', '.join(VARIABLES)})", column="hourly")
    for name in present:
        if not isinstance(hourly[name], list) or len(hourly[name]) != len(times):
            raise InputFileError(path, f"hourly.{name} has {len(hourly[name])} values for {len(times)} times",
                                 column=f"hourly.{name}")
    units = payload.get("hourly_units") or {}
    errors = RowErrors(len(times))
    stamps = pd.Series(times, dtype="string")
    local = pd.to_datetime(stamps, format="ISO8601", errors="coerce")
    errors.add(local.isna().to_numpy(), "unparseable time '" + stamps.fillna("") + "'", "hourly.time")
    ts = local.dt.tz_localize(_zone(payload, path), ambiguous="NaT", nonexistent="NaT").dt.tz_convert("UTC")
    frame = pd.DataFrame({"line": np.arange(1, len(times) + 1, dtype=np.int64),
                          "city": pd.Series([city.upper()] * len(times), dtype="string"),
                          "ts": ts.astype("datetime64[us, UTC]")})
    for name in present:
        values = pd.to_numeric(pd.Series(hourly[name], dtype=object), errors="coerce").astype(float).to_numpy()
        bad = np.isnan(values) & pd.Series(hourly[name], dtype=object).notna().to_numpy()
        errors.add(bad, f"unparseable hourly.{name}", f"hourly.{name}")
        scale, offset = UNITS.get(str(units.get(name, "")), (1.0, 0.0))
        frame[VARIABLES[name]] = values * scale + offset
    frame["kind"] = kind
    issued = pd.NaT
    if issued_at is not None:
        issued = pd.Timestamp(issued_at)
        issued = issued.tz_localize("UTC") if issued.tzinfo is None else issued.tz_convert("UTC")
    frame["issued_at"] = pd.Series(issued, index=frame.index, dtype="datetime64[us, UTC]")
    refuse_if_unusable(errors.attach(frame), path)
    return SourceBatch(source="open-meteo", path=path, load=pd.DataFrame(), weather=frame, resolution_minutes=60,
                       notes=[f"open-meteo lat={payload.get('latitude')} lon={payload.get('longitude')}"])
