"""``efp backtest``, ``efp tune`` and ``efp models list|show|promote|rollback`` (docs/contracts.md, "CLI contract").

Thin wiring: parse options, call ``training.backtest`` / ``training.tuning`` /
``training.registry``, print a table or ``--json``.
"""

from __future__ import annotations

import contextlib
import sys
from datetime import datetime
from pathlib import Path
from typing import Any, Optional

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from data.settings import get_settings
from ray_apps.cli.output import JsonOption, console, err_console, print_json, print_table, reports_errors

DATE = ["%Y-%m-%d"]
models_app = typer.Typer(help="Model registry: list, show, promote and roll back versions.", no_args_is_help=True)


def _version_row(version: Any) -> dict[str, Any]:
    return {
        "version": version.version,
        "stage": version.stage,
        "cities": ",".join(version.cities),
        "production_for": ",".join(version.production_cities) or None,
        "promoted_by": version.promoted_by,
        "resolution_min": version.resolution_minutes,
        "train_end": version.train_end.date().isoformat(),
        "members": ",".join(version.members),
        "ensemble_mape": version.metrics.get("ensemble", {}).get("mape"),
    }


def _cli_user() -> str:
    """Who runs this command, for the promotion record: $USER (or the login name), else "unknown"."""
    import getpass

    try:
        return getpass.getuser()
    except (OSError, KeyError):  # no USER/LOGNAME and no passwd entry (a bare container)
        return "unknown"


@models_app.command("list")
@reports_errors
def list_models(city: Optional[str] = typer.Option(None, "--city", help="Only versions covering this city."), as_json: bool = JsonOption) -> None:
    """Registered versions, oldest first, with their stage per city."""
    from training.registry import open_registry

    versions = open_registry(get_settings()).list_versions(city=city)
    if as_json:
        print_json([v.model_dump(mode="json", exclude={"config"}) for v in versions])
    else:
        print_table("Model versions", [_version_row(v) for v in versions])


@models_app.command("show")
@reports_errors
def show_model(version: str = typer.Argument(..., help="Version id."), as_json: bool = JsonOption) -> None:
    """Everything recorded about one version: data window, metrics, commit, feature-schema hash, config."""
    from training.registry import open_registry

    found = open_registry(get_settings()).get(version)
    if as_json:
        print_json(found.model_dump(mode="json"))
        return
    console.print_json(data=found.model_dump(mode="json", exclude={"metrics"}))
    rows = [{"model": name, **values} for name, values in found.metrics.items()]
    if rows:
        print_table(f"Metrics recorded at training ({version})", rows)


@models_app.command("promote")
@reports_errors
def promote_model(
    version: str = typer.Argument(..., help="Version id to make production for each of its cities."),
    force: bool = typer.Option(False, "--force", help="Promote even if it does not beat production on the backtest window."),
    by: Optional[str] = typer.Option(None, "--by", help="Who is promoting, recorded with the promotion (default: $USER)."),
    as_json: bool = JsonOption,
) -> None:
    """Promote a version; refused unless it beats each city's production on a window neither trained on."""
    from training.backtest.promotion import BacktestCheck
    from training.registry import open_registry

    settings = get_settings()
    registry = open_registry(settings)
    result = registry.promote(version, force=force, check=BacktestCheck(settings, registry), by=by or _cli_user())
    if as_json:
        print_json(result)
        return
    console.print(f"{version} is now production for {', '.join(result.cities)}" + (" (forced)" if force else ""))
    for check in result.checks:
        console.print(f"  {check.city}: {check.detail}")


@models_app.command("rollback")
@reports_errors
def rollback_model(
    city: Optional[str] = typer.Option(None, "--city", help="Only this city (default: every city with a previous production)."),
    as_json: bool = JsonOption,
) -> None:
    """Restore each city's previous production version."""
    from training.registry import open_registry

    results = open_registry(get_settings()).rollback(city=city)
    if as_json:
        print_json(results)
    else:
        print_table("Rolled back", [r.model_dump() for r in results])


@reports_errors
def backtest(
    city: Optional[str] = typer.Option(None, "--city", help="City code."),
    start: datetime = typer.Option(..., "--start", formats=DATE, help="First forecast day (local), YYYY-MM-DD."),
    end: datetime = typer.Option(..., "--end", formats=DATE, help="Last forecast day (local, inclusive)."),
    version: Optional[str] = typer.Option(None, "--version", help="Default: the city's production, else its newest version."),
    lead: str = typer.Option("0h", "--lead", help="Issue each day's forecast this long before its local midnight (14h: the 10:00-on-D-1 protocol)."),
    plot: Optional[Path] = typer.Option(None, "--plot", help="Write actual, ensemble P50 and P10-P90 band to this PNG."),
    cities: Optional[str] = typer.Option(None, "--cities", help="Instead of --city: comma-separated codes, or 'all' stored cities, backtested together on Ray Data."),
    as_json: bool = JsonOption,
) -> None:
    """Rolling-origin backtest: one forecast per day, issued --lead before its 00:00 local; members, ensemble and baselines."""
    from ray_apps.runtime import init_ray
    import pandas as pd

    from data.durations import parse_duration_minutes
    from training.backtest import BacktestError, load_backtest_config, run_backtest
    from training.backtest.plot import plot_backtest

    lead_minutes = parse_duration_minutes(lead)
    if lead_minutes is None:
        raise BacktestError(f"--lead: expected a duration like 14h, 0h or 90m, got {lead!r}")
    if (city is None) == (cities is None):
        raise BacktestError("give exactly one of --city CODE or --cities A,B,.. (or --cities all)")
    settings = get_settings()
    if cities is not None:
        if plot is not None:
            raise BacktestError("--plot draws one city: use it with --city")
        _backtest_many(settings, cities, start, end, version, pd.Timedelta(minutes=lead_minutes), as_json)
        return
    if (end - start).days + 1 >= load_backtest_config().ray_min_days:
        init_ray(settings)  # many days: they run as Ray tasks
    with Progress(TextColumn("backtest"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=err_console, transient=True) as bar:
        task = bar.add_task("days", total=None)
        report = run_backtest(
            settings, city, start.date(), end.date(), version,
            on_day=lambda done, total: bar.update(task, completed=done, total=total),
            lead=pd.Timedelta(minutes=lead_minutes),
        )
    if plot is not None:
        plot_backtest(report, plot)
    if as_json:
        print_json(report.to_json())
        return
    title = (f"Backtest {report.city} {report.start}..{report.end} ({report.days} days, lead {report.lead}, "
             f"version {report.version}, weather {report.weather})")
    print_table(title, report.table_rows())
    if plot is not None:
        console.print(f"plot written to {plot}")


def _percent(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f} %"


def _backtest_many(settings, cities: str, start: datetime, end: datetime, version: Optional[str], lead, as_json: bool) -> None:
    """Every city's days as one Ray Data job; one line per city as it is scored, then the ensemble and baselines per city."""
    from data.stores import open_store
    from ray_apps.runtime import init_ray
    from training.backtest import BacktestError
    from training.backtest.many import run_backtests

    codes = open_store(settings).cities() if cities.strip().lower() == "all" else [c.strip() for c in cities.split(",") if c.strip()]
    if not codes:
        raise BacktestError("--cities: no city given (and none stored for 'all')")
    init_ray(settings)
    reports = run_backtests(settings, codes, start.date(), end.date(), version, lead=lead,
                            on_city=lambda r: err_console.print(f"backtest {r.city}: ensemble MAPE {_percent(r.metrics['ensemble'].get('mape'))}"))
    if as_json:
        print_json([r.to_json() for r in reports])
        return
    rows = [{"city": r.city, "version": r.version, "days": r.days,
             **{f"{name} mape": r.metrics[name].get("mape") for name in ("ensemble", "seasonal_naive_day", "seasonal_naive_week")},
             "ensemble coverage": r.metrics["ensemble"].get("coverage")} for r in reports]
    print_table(f"Backtest {start.date()}..{end.date()} (lead {reports[0].lead}), {len(reports)} cities", rows)


@reports_errors
def tune(
    model: str = typer.Option(..., "--model", help="Member to tune: lstm, transformer or xgboost."),
    samples: int = typer.Option(8, "--samples", min=1, help="Trials to run."),
    cities: Optional[str] = typer.Option(None, "--cities", help="Comma-separated city codes (default: every stored city)."),
    until: Optional[datetime] = typer.Option(None, "--until", formats=DATE, help="Use data before this day."),
    space: Optional[Path] = typer.Option(None, "--space", help="Search space YAML (default configs/tune/<model>.yaml)."),
    config: Optional[Path] = typer.Option(None, "--config", help="Training YAML merged over configs/training.yaml (split, features)."),
    as_json: bool = JsonOption,
) -> None:
    """Ray Tune sweep (ASHA + Optuna) of one member; writes the best configuration for `efp train --config`."""
    from ray_apps.runtime import init_ray
    from training.config import load_train_config
    from training.tuning import run_tune

    settings = get_settings()
    init_ray(settings)
    # Ray Tune and Optuna print their own progress; it goes to stderr so stdout stays the result.
    with contextlib.redirect_stdout(sys.stderr):
        result = run_tune(
            settings, model, samples,
            cities=[c.strip().upper() for c in cities.split(",")] if cities else None,
            until=until, space_file=space, base_config=load_train_config(config),
            log=(lambda line: err_console.print(line, highlight=False, markup=False, soft_wrap=True)),
        )
    if as_json:
        print_json(result)
        return
    print_table(f"Tune {model}: {samples} trials (best first)", result.trials)
    console.print(f"best configuration written to {result.best_config_path}; the sweep's results: {result.results_uri}")


def register(app: typer.Typer) -> None:
    """Add this group's commands to the root app."""
    app.command("backtest")(backtest)
    app.command("tune")(tune)
    app.add_typer(models_app, name="models")
