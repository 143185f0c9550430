"""Calling the forecast service and showing the answer: a table of the blocks or a plot
(recent actual load, the P50 line, the P10-P90 band). Used by ``efp forecast`` and the demo."""

from __future__ import annotations

from datetime import date, datetime, time
from pathlib import Path
from typing import Any

import httpx
import pandas as pd

from data.errors import PlatformError


class ServiceError(PlatformError):
    """The forecast service refused the request or could not be reached."""


def forecast_body(city: str, *, day: date | None = None, as_of: datetime | None = None,
                  intraday: int | None = None) -> dict[str, Any]:
    """The request: the day's 00:00 local (else the city's tomorrow), or the next ``intraday`` blocks
    from now; issued at ``as_of`` (naive: the city's local time) when given."""
    body: dict[str, Any] = {"city": city}
    if intraday is not None:
        body["start"], body["horizon"] = "now", intraday
    elif day is not None:
        body["start"] = datetime.combine(day, time()).isoformat()
    if as_of is not None:
        body["as_of"] = as_of.isoformat()
    return body


def request_forecast(url: str, city: str, *, day: date | None = None, as_of: datetime | None = None,
                     intraday: int | None = None, api_key: str | None = None, timeout_s: float = 60.0) -> dict[str, Any]:
    """POST /v1/forecast (see ``forecast_body``); errors become one line."""
    body = forecast_body(city, day=day, as_of=as_of, intraday=intraday)
    headers = {"X-API-Key": api_key} if api_key else {}
    try:
        response = httpx.post(f"{url.rstrip('/')}/v1/forecast", json=body, headers=headers, timeout=timeout_s)
    except httpx.HTTPError as error:
        raise ServiceError(f"cannot reach the forecast service at {url}: {error}") from None
    if response.status_code != 200:
        try:
            detail = response.json().get("detail")
        except ValueError:
            detail = response.text
        if isinstance(detail, list):
            detail = "; ".join(f"{'.'.join(map(str, d.get('loc', [])[1:]))}: {d.get('msg')}" for d in detail)
        raise ServiceError(f"forecast service answered {response.status_code}: {detail}")
    return response.json()


def forecast_rows(body: dict[str, Any]) -> list[dict[str, Any]]:
    rows = []
    for index, point in enumerate(body["points"], start=1):
        stamp = pd.Timestamp(point["ts"])
        rows.append({"block": index, "time": stamp.strftime("%Y-%m-%d %H:%M"),
                     **{q: point.get(q) for q in ("p10", "p50", "p90") if q in point}})
    return rows


def plot_forecast(body: dict[str, Any], out: Path, history: pd.DataFrame | None = None) -> Path:
    """PNG with the recent actual load (when given), the P50 line and the P10-P90 band."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    points = pd.DataFrame(body["points"])
    points["ts"] = [pd.Timestamp(s) for s in points["ts"]]
    tz = points["ts"].iloc[0].tz
    fig, ax = plt.subplots(figsize=(11, 4.5))
    if history is not None and not history.empty:
        actual = history.assign(ts=pd.to_datetime(history["ts"], utc=True).dt.tz_convert(tz))
        ax.plot(actual["ts"], actual["load_mw"], color="black", linewidth=1, label="actual load")
    if {"p10", "p90"} <= set(points):
        ax.fill_between(points["ts"], points["p10"], points["p90"], color="tab:blue", alpha=0.25, label="P10-P90")
    if "p50" in points:
        ax.plot(points["ts"], points["p50"], color="tab:blue", linewidth=2, label="P50 forecast")
    flag = " (degraded)" if body.get("degraded") else ""
    issued = f", issued {pd.Timestamp(body['as_of']):%Y-%m-%d %H:%M}" if body.get("as_of") else ""
    ax.set_title(f"{body['city']} demand forecast, model {body['model_version']}{issued}{flag}")
    ax.set_ylabel("MW")
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left")
    fig.autofmt_xdate()
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return out


def lead_hours(body: dict[str, Any]) -> float | None:
    """Hours from the last known load (``data_until``) to the first forecast block."""
    if not body.get("data_until") or not body.get("points"):
        return None
    return (pd.Timestamp(body["points"][0]["ts"]) - pd.Timestamp(body["data_until"])) / pd.Timedelta(hours=1)
