"""Daily forecast job: ``python -m ray_apps.forecast_daily [--cities ...] [--date D] [--as-of T] [--json]``.

The same command as ``efp forecasts run``; also runs through
``ray job submit --working-dir . -- python -m ray_apps.forecast_daily`` (the forecasts are
computed in the job's process over the in-process engine, so it needs no Serve app).
"""

from __future__ import annotations

import typer

from ray_apps.cli.monitoring_commands import forecasts_run


def main() -> None:
    typer.run(forecasts_run)


if __name__ == "__main__":
    main()
