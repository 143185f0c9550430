"""Plot a city's stored load with its quality flags, and the temperature beside it.

Used by ``efp data plot`` and by docs/data.md's figure. Times are shown in the city's
own timezone (what an operator reads), flags as markers on the load line so that
imputed blocks, load shedding and outliers stand out at a glance.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from data.catalogue import City  # noqa: E402
from data.errors import NotFoundError, PlatformError  # noqa: E402
from data.stores import TimeSeriesStore  # noqa: E402

FLAG_STYLES = {
    "imputed": ("tab:orange", "o", "imputed"),
    "load_shedding": ("tab:red", "v", "load shedding"),
    "outlier": ("tab:purple", "x", "outlier"),
}


def local_window(city: City, start: dt.date, end: dt.date) -> tuple[pd.Timestamp, pd.Timestamp]:
    """UTC bounds of the local days ``start`` .. ``end`` (both included)."""
    low = pd.Timestamp(start).tz_localize(city.tz).tz_convert("UTC")
    high = pd.Timestamp(end + dt.timedelta(days=1)).tz_localize(city.tz).tz_convert("UTC")
    return low, high


def plot_city(store: TimeSeriesStore, city: City, start: dt.date, end: dt.date, out: Path) -> Path:
    """Write a PNG of load (flags marked) and temperature; raises NotFoundError when nothing is stored."""
    if end < start:
        raise PlatformError(f"--end {end} is before --start {start}")
    low, high = local_window(city, start, end)
    load = store.read_load(city.code, low, high)
    if load.empty:
        raise NotFoundError(f"no load stored for {city.code} between {start} and {end}")
    weather = store.read_weather(city.code, low, high)
    local_ts = load["ts"].dt.tz_convert(city.tz).dt.tz_localize(None)
    figure, (top, bottom) = plt.subplots(2, 1, figsize=(12, 6), sharex=True, height_ratios=[3, 1])
    top.plot(local_ts, load["load_mw"], color="tab:blue", linewidth=0.8, label="load (MW)")
    for flag, (colour, marker, label) in FLAG_STYLES.items():
        flagged = load[flag].to_numpy()
        if flagged.any():
            top.scatter(local_ts[flagged], load["load_mw"][flagged], color=colour, marker=marker, s=18, label=label,
                        zorder=3)
    top.set_ylabel("MW")
    top.set_title(f"{city.name} ({city.code}) load, {start} to {end} ({city.timezone})")
    top.legend(loc="upper left", fontsize="small")
    top.grid(alpha=0.3)
    if not weather.empty and weather["temperature_c"].notna().any():
        weather_ts = weather["ts"].dt.tz_convert(city.tz).dt.tz_localize(None)
        bottom.plot(weather_ts, weather["temperature_c"], color="tab:green", linewidth=0.8)
    bottom.set_ylabel("temperature (°C)")
    bottom.grid(alpha=0.3)
    return save_figure(figure, out)


def save_figure(figure: Figure, out: Path) -> Path:
    """Date labels slanted, layout tightened, PNG written (folders made) and the figure freed.

    Every platform picture ends this way, so ``efp data plot`` and ``efp backtest --plot``
    write at one resolution; closing matters in long-lived processes, where pyplot
    otherwise keeps every figure alive.
    """
    figure.autofmt_xdate()
    figure.tight_layout()
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(out, dpi=110)
    plt.close(figure)
    return out
