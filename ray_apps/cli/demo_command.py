"""``efp demo``: what ``make demo`` runs (see ray_apps/demo.py for the stages)."""

from __future__ import annotations

import os

import typer

from data.settings import get_settings
from ray_apps.cli.output import reports_errors


@reports_errors
def demo_command(
    exit_after_forecast: bool = typer.Option(
        False, "--exit-after-forecast", help="Stop after printing the forecast instead of serving until Ctrl-C (scripts, CI)."
    ),
    full: bool = typer.Option(False, "--full", help="Train with the full-size configs/training.yaml instead of the demo size."),
    days: int = typer.Option(400, "--days", min=60, help="Days of synthetic history to generate (ending today)."),
    seed: int = typer.Option(42, "--seed", help="Seed of the synthetic generator."),
    port: int | None = typer.Option(None, "--port", help="HTTP port of the service (default: settings serve.port)."),
) -> None:
    """Generate and ingest data, train, backtest, then serve and forecast Delhi for tomorrow."""
    from ray_apps.cli.serve_commands import demo_serve
    from ray_apps.demo import DemoOptions, run_demo
    from ray_apps.runtime import init_ray

    # The demo runs on the embedded defaults with auth off; make demo sets the variable,
    # and a direct `efp demo` gets the same, said loudly by the demo's banner.
    os.environ.setdefault("EFP_AUTH_ENABLED", "false")
    # Serve's controller and replica logs still go to files under /tmp/ray; on the demo's
    # console they would bury the tables a newcomer is meant to read.
    os.environ.setdefault("RAY_SERVE_LOG_TO_STDERR", "0")
    get_settings.cache_clear()
    settings = get_settings()
    init_ray(settings)
    options = DemoOptions(
        days=days, seed=seed, full=full, port=port, exit_after_forecast=exit_after_forecast,
        out_dir=settings.data_dir / "demo",
    )
    raise typer.Exit(run_demo(settings, options, serve=demo_serve))


def register(app: typer.Typer) -> None:
    app.command("demo")(demo_command)
