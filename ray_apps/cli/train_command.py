"""``efp train``: train the ensemble on Ray Train and register a candidate (docs/contracts.md, "CLI contract")."""

from __future__ import annotations

import datetime as dt
from enum import Enum
from pathlib import Path
from typing import Optional

import typer

from ray_apps.cli.output import JsonOption, console, err_console, print_json, print_table, reports_errors


class UseGpu(str, Enum):
    auto = "auto"
    true = "true"
    false = "false"


def _split(value: str | None) -> list[str] | None:
    return [part.strip() for part in value.split(",") if part.strip()] if value else None


def train_command(
    cities: Optional[str] = typer.Option(None, "--cities", help="Comma-separated city codes (default: every stored city)."),
    until: Optional[str] = typer.Option(None, "--until", help="Use data up to and including this date (YYYY-MM-DD)."),
    models: Optional[str] = typer.Option(None, "--models", help="Members to train, e.g. xgboost,lstm,transformer."),
    workers: Optional[int] = typer.Option(None, "--workers", min=1, help="Ray Train workers per member."),
    use_gpu: Optional[UseGpu] = typer.Option(None, "--use-gpu", help="auto: GPU when the cluster has one (default: the YAML's scaling.use_gpu)."),
    config: Optional[Path] = typer.Option(None, "--config", help="YAML merged over configs/training.yaml (e.g. Tune's best)."),
    local: bool = typer.Option(False, "--local", help="Fit in this process without Ray Train."),
    json_output: bool = JsonOption,
) -> None:
    """Train XGBoost, LSTM and Transformer members, fit the ensemble, evaluate and register."""
    _run(cities, until, models, workers, use_gpu.value if use_gpu else None, config, local, json_output)


@reports_errors
def _run(cities, until, models, workers, use_gpu, config, local, json_output) -> None:
    from ray_apps.train import TrainOptions, run_training
    from training.config import TrainingConfigError

    try:
        until_date = dt.date.fromisoformat(until) if until else None
    except ValueError:
        raise TrainingConfigError("--until", f"expected YYYY-MM-DD, got {until!r}") from None
    options = TrainOptions(config=config, cities=_split(cities), until=until_date, models=_split(models), workers=workers,
                           use_gpu=use_gpu, local=local)
    # One line per stage, epoch or boosting report, printed as is: no markup (``[stage]``
    # would be read as a tag and vanish) and no wrapping of our own.
    target = err_console if json_output else console
    log = lambda line: target.print(line, highlight=False, markup=False, soft_wrap=True)  # noqa: E731
    report = run_training(options, log)
    if json_output:
        print_json(report)
        return
    rows = [{"forecaster": name, **{k: round(v, 4) for k, v in values.items()}} for name, values in report.metrics["all"].items()]
    print_table(f"Version {report.version}: test window, mean over {', '.join(report.cities)}", rows)
    if report.cv_metrics:  # one column per rolling-origin fold: a member good in one month only shows
        folds = list(report.cv_metrics)
        rows = [{"forecaster": name, **{fold: round(report.cv_metrics[fold][name]["mape"], 3) for fold in folds}}
                for name in report.cv_metrics[folds[0]]]
        print_table("MAPE % by fold (lead 0)", rows)
    console.print(f"registered {report.version} as candidate ({report.duration_s:.0f} s)")


def register(app: typer.Typer) -> None:
    """Add ``efp train`` to the root app."""
    app.command("train")(train_command)
