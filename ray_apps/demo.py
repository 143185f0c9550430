"""The guided tour behind ``make demo`` / ``efp demo``: data -> model -> backtest -> live forecast.

It runs on the embedded defaults (local Ray, Parquet lake, model folder, in-process cache,
auth off and said so) and only wires library functions together, stage by stage, so
each stage's output is what a user would see from the matching ``efp`` command.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo

from rich.console import Console
from rich.panel import Panel

from data.catalogue import load_catalogue
from data.config_files import config_path
from data.distributed import generate_and_ingest
from data.settings import PlatformSettings
from data.stats import quality_table
from ray_apps.cli.output import add_column, make_table, quality_view
from training.backtest import run_backtest
from training.config import load_train_config
from training.pipeline import train
from training.registry import open_registry

DEMO_CONFIG = "training-demo.yaml"
FULL_CONFIG = "training.yaml"


@dataclass(frozen=True)
class DemoOptions:
    out_dir: Path  # where the forecast plot goes (the CLI uses <data_dir>/demo)
    days: int = 400
    seed: int = 42
    full: bool = False
    backtest_city: str = "DEL"
    backtest_days: int = 14
    forecast_city: str = "DEL"
    port: int | None = None
    exit_after_forecast: bool = False
    clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.timezone.utc)  # the issue time of the forecast


def history_days(catalogue_city_tz: str, now: dt.datetime, days: int) -> tuple[dt.date, int]:
    """First day and day count of the synthetic history: ``days`` local days ending with the
    city's today, so at any hour the forecast of the city's tomorrow has history up to the
    issue time (its inputs never see the rest of today: the forecast is issued ``now``)."""
    today = now.astimezone(ZoneInfo(catalogue_city_tz)).date()
    return today - dt.timedelta(days=days - 1), days


class Stages:
    """Numbered stage headings with their wall time, so a slow stage is obvious."""

    def __init__(self, console: Console, total: int) -> None:
        self.console, self.total, self.index, self.began = console, total, 0, time.perf_counter()

    def next(self, title: str) -> None:
        """A rule with the heading in it; a heading too long for the terminal goes under a plain
        rule instead, wrapped whole (``Console.rule`` would cut it to ``…``)."""
        self.index += 1
        elapsed = time.perf_counter() - self.began
        heading = f"{self.index}/{self.total} {title}  (t+{elapsed:,.0f} s)"
        if len(heading) + 4 <= self.console.width:  # the rule's "─ " and " ─" around it
            self.console.rule(f"[bold cyan]{self.index}/{self.total} {title}[/]  (t+{elapsed:,.0f} s)")
        else:
            self.console.rule()
            self.console.print(heading, style="bold cyan", overflow="fold")


def _quality(console: Console, rows: list[dict]) -> None:
    console.print(quality_view(rows))


def _cell(value: object) -> str:
    if isinstance(value, float):
        return f"{value:,.3f}" if abs(value) < 10 else f"{value:,.1f}"
    return "-" if value is None else str(value)


def _backtest_table(console: Console, report) -> None:
    metrics = report.metrics
    columns = list(next(iter(metrics.values())))
    table = make_table(f"Backtest {report.city} {report.start} .. {report.end} ({report.days} days, "
                       f"version {report.version}, weather {report.weather})")
    add_column(table, "model")
    for column in columns:
        add_column(table, column, numeric=True)
    for name, values in metrics.items():
        style = "bold green" if name == "ensemble" else ("dim" if name.startswith("seasonal") else "")
        table.add_row(name, *[_cell(values.get(c)) for c in columns], style=style)
    console.print(table)


def run_demo(settings: PlatformSettings, options: DemoOptions, *, serve: Callable[..., int]) -> int:
    """Run every stage; ``serve`` starts the service, prints the forecast and (optionally) keeps serving."""
    console = Console()
    stages = Stages(console, 5)
    console.print(
        Panel.fit(
            "Energy Forecast Platform demo on embedded defaults: local Ray, Parquet lake at "
            f"{settings.lake_dir}, model folder {settings.registry_uri}, in-process cache.\n"
            + ("[bold yellow]Authentication is OFF for this demo (EFP_AUTH_ENABLED=false).[/]" if not settings.auth_enabled else "Authentication is on."),
            title="efp demo",
        )
    )
    catalogue = load_catalogue(settings)
    now = options.clock()
    start, _ = history_days(catalogue.get(options.forecast_city).timezone, now, options.days)
    today = start + dt.timedelta(days=options.days - 1)

    stages.next(f"Generate and ingest {options.days} days of synthetic history for {len(catalogue)} cities")
    generate_and_ingest(settings, catalogue.codes, start, options.days, options.seed)
    _quality(console, quality_table(settings))

    config = load_train_config(config_path(FULL_CONFIG if options.full else DEMO_CONFIG))
    stages.next(f"Train the ensemble with Ray Train ({'full' if options.full else 'demo'} configuration)")
    report = train(settings, config)
    registry = open_registry(settings)
    registry.promote(report.version, force=True)
    console.print(f"registered and promoted version [bold]{report.version}[/]")

    # The last days were the training run's held-out test window.
    end = today
    first = end - dt.timedelta(days=options.backtest_days - 1)
    stages.next(f"Backtest {options.backtest_city} {first}..{end}: one day-ahead forecast per day at 00:00 local")
    backtest = run_backtest(settings, options.backtest_city, first, end, report.version)
    _backtest_table(console, backtest)

    stages.next(f"Serve and forecast {options.forecast_city}'s tomorrow, issued now")
    return serve(settings, options, console)
