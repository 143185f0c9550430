"""The backtest picture: actual load, ensemble P50 and the P10-P90 band (matplotlib, Agg)."""

from __future__ import annotations

from pathlib import Path

from data.errors import PlatformError
from training.backtest.report import BacktestReport


def plot_backtest(report: BacktestReport, path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.dates as mdates
    import matplotlib.pyplot as plt
    from zoneinfo import ZoneInfo

    from data.plotting import save_figure

    if report.series is None:
        raise PlatformError("backtest report carries no series to plot")
    series = report.series
    fig, ax = plt.subplots(figsize=(12, 4.5))
    ax.fill_between(series.timestamps, series.ensemble[:, 0], series.ensemble[:, 2], alpha=0.3, label="ensemble P10-P90")
    ax.plot(series.timestamps, series.actual, color="black", linewidth=0.9, label="actual")
    ax.plot(series.timestamps, series.ensemble[:, 1], color="tab:blue", linewidth=0.9, label="ensemble P50")
    mape = report.metrics.get("ensemble", {}).get("mape")
    subtitle = f", ensemble MAPE {mape:.2f} %" if mape is not None else ""
    ax.set_title(f"{report.city} backtest {report.start}..{report.end}, version {report.version}{subtitle}")
    ax.set_ylabel("MW")
    ax.set_xlabel(f"local time ({series.timezone})")
    local = ZoneInfo(series.timezone)
    ax.xaxis.set_major_locator(mdates.AutoDateLocator(tz=local))
    ax.xaxis.set_major_formatter(mdates.DateFormatter("%d %b %H:%M", tz=local))
    ax.legend(loc="upper right")
    return save_figure(fig, path)
