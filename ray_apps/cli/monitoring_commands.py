"""``efp forecasts run|list``, ``efp weather fetch``, ``efp monitor`` and ``efp alerts list``
(docs/contracts.md, "CLI contract"): the operational loop of issued forecasts, weather
forecasts, and the alerts raised when forecasts or inputs go wrong."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Optional

import typer

from data.settings import get_settings
from ray_apps.cli.output import JsonOption, console, print_json, print_table, reports_errors

forecasts_app = typer.Typer(help="Issued forecasts: the daily job, and what the store keeps.", no_args_is_help=True)
weather_app = typer.Typer(help="Weather from the Open-Meteo APIs: forecasts, and the historical archive.", no_args_is_help=True)
alerts_app = typer.Typer(help="Alerts raised by `efp monitor`.", no_args_is_help=True)

_TIME_FORMATS = ["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M:%S"]


def _codes(cities: str | None) -> list[str] | None:
    return [c.strip().upper() for c in cities.split(",") if c.strip()] if cities else None


@reports_errors
def forecasts_run(
    cities: Optional[str] = typer.Option(None, "--cities", help="Comma-separated city codes (default: every city with load stored)."),
    day: Optional[datetime] = typer.Option(None, "--date", formats=["%Y-%m-%d"], help="Day to forecast (default: the day after the issue time)."),
    as_of: Optional[datetime] = typer.Option(None, "--as-of", formats=_TIME_FORMATS,
                                             help="Issue time (the city's local time). Default: now."),
    export_dir: Optional[Path] = typer.Option(None, "--export-dir", help="Folder of the Parquet export (default: <data_dir>/exports/forecasts)."),
    as_json: bool = JsonOption,
) -> None:
    """The daily job: issue every city's day-ahead forecast, store it, warm the cache, export the day as Parquet."""
    from serving.daily import run_daily

    report = run_daily(get_settings(), cities=_codes(cities), day=day.date() if day else None, as_of=as_of,
                       export_dir=export_dir)
    if as_json:
        print_json(report)
    else:
        print_table("day-ahead forecasts", [item.model_dump(mode="json") for item in report.items])
        console.print(f"cache: {report.cache}; export: {report.export or 'nothing to export'}")
    if any(item.status != "stored" for item in report.items):
        raise typer.Exit(1)


@reports_errors
def forecasts_list(
    city: str = typer.Option(..., "--city", help="City code, e.g. DEL."),
    limit: int = typer.Option(100, "--limit", min=1, help="At most this many, newest first."),
    as_json: bool = JsonOption,
) -> None:
    """Stored forecasts of a city (served and scheduled), newest target day first."""
    from data.catalogue import load_catalogue
    from data.stores import open_forecasts

    settings = get_settings()
    code = load_catalogue(settings).get(city).code
    rows = [s.model_dump(mode="json") for s in open_forecasts(settings).list(code, limit)]
    if as_json:
        print_json(rows)
    else:
        print_table(f"{code} stored forecasts", rows)


@reports_errors
def weather_fetch(
    city: str = typer.Option(..., "--city", help="City code, e.g. DEL."),
    days: Optional[int] = typer.Option(None, "--days", min=1, max=16, help="Days of forecast to fetch (1-16, default 2)."),
    archive: bool = typer.Option(False, "--archive", help="Observed weather from the historical archive instead (needs --start and --end)."),
    start: Optional[datetime] = typer.Option(None, "--start", formats=["%Y-%m-%d"], help="With --archive: first local day."),
    end: Optional[datetime] = typer.Option(None, "--end", formats=["%Y-%m-%d"], help="With --archive: last local day (included)."),
    as_json: bool = JsonOption,
) -> None:
    """Fetch the city's hourly weather from Open-Meteo: the forecast (stored as kind=forecast with
    issued_at) or, with --archive, the observations of --start to --end (stored as kind=observed)."""
    from data.catalogue import load_catalogue
    from data.connectors.open_meteo_api import fetch_archive, fetch_forecast
    from data.pipeline import ingest

    if archive and (start is None or end is None):
        raise typer.BadParameter("--archive needs both --start and --end", param_hint="--start/--end")
    if archive and days is not None:
        raise typer.BadParameter("the archive takes --start and --end, not --days", param_hint="--days")
    if not archive and (start is not None or end is not None):
        raise typer.BadParameter("--start and --end select archive days: add --archive", param_hint="--start/--end")
    settings = get_settings()
    catalogue = load_catalogue(settings)
    target = catalogue.get(city)
    if archive:
        batch = fetch_archive(settings.weather, target, start.date(), end.date())
    else:
        batch = fetch_forecast(settings.weather, target, days or 2)
    summary = ingest(batch, settings, catalogue=catalogue)
    if as_json:
        print_json(summary)
    else:
        print_table(f"weather {'observations' if archive else 'forecast'} for {target.code}", [summary.model_dump(
            include={"input_rows", "accepted", "repaired", "rejected", "inserted", "unchanged"})])


@reports_errors
def monitor(
    cities: Optional[str] = typer.Option(None, "--cities", help="Comma-separated city codes (default: every city stored)."),
    config: Optional[Path] = typer.Option(None, "--config", help="Thresholds file (default: monitoring.yaml of the configs folder)."),
    metrics_file: Optional[Path] = typer.Option(None, "--metrics-file", help="Prometheus textfile (default: <data_dir>/monitor/metrics.prom)."),
    as_json: bool = JsonOption,
) -> None:
    """Score stored forecasts against actuals, check drift and staleness; raise and resolve alerts."""
    from training.monitoring.config import load_monitoring_config
    from training.monitoring.job import run_monitor

    report = run_monitor(get_settings(), cities=_codes(cities), config=load_monitoring_config(config), metrics_file=metrics_file)
    if as_json:
        print_json(report)
        return
    rows = [{"city": c.city, **s.model_dump(exclude={"city"})} for c in report.cities for s in c.errors]
    print_table("forecast error (rolling window)", rows)
    print_table("drift", [d.model_dump() for c in report.cities for d in c.drift])
    print_table("staleness", [{"city": c.city, "data_age_hours": c.data_age_hours, "model_version": c.model_version,
                               "model_age_days": c.model_age_days} for c in report.cities])
    for change in report.changes:
        console.print(f"{change.change}: [{change.severity}] {change.kind} {change.city}: {change.message}")
    console.print(f"{len(report.open_alerts)} alert(s) open; metrics in {report.metrics_file}")


@reports_errors
def alerts_list(
    city: Optional[str] = typer.Option(None, "--city", help="Only this city's alerts."),
    limit: int = typer.Option(100, "--limit", min=1, help="At most this many, newest first."),
    as_json: bool = JsonOption,
) -> None:
    """Alerts newest first: [{id, city, kind, severity, message, value, threshold, created_at}] (+ resolved_at)."""
    from data.catalogue import load_catalogue
    from data.stores import open_metadata
    from training.monitoring.alerts import alert_row

    settings = get_settings()
    code = load_catalogue(settings).get(city).code if city else None
    rows = [alert_row(a) for a in open_metadata(settings).alerts(city=code, limit=limit)]
    if as_json:
        print_json(rows)
    else:
        print_table("alerts", rows, ["id", "created_at", "city", "kind", "severity", "value", "threshold", "resolved_at", "message"])


def register(app: typer.Typer) -> None:
    """Add this group's commands to the root app."""
    forecasts_app.command("run")(forecasts_run)
    forecasts_app.command("list")(forecasts_list)
    weather_app.command("fetch")(weather_fetch)
    alerts_app.command("list")(alerts_list)
    app.add_typer(forecasts_app, name="forecasts")
    app.add_typer(weather_app, name="weather")
    app.add_typer(alerts_app, name="alerts")
    app.command("monitor")(monitor)
