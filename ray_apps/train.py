"""Ray job: train the ensemble and register it as a candidate version.

    python -m ray_apps.train --cities DEL,MUM --until 2024-12-31 --models xgboost,lstm --workers 2
    python -m ray_apps.train --config configs/training-demo.yaml --local
    ray job submit --working-dir . -- python -m ray_apps.train --cities DEL

Settings come from configs/ in the working directory (``EFP_*`` overrides), so the same
command runs locally and through ``ray job submit``. Prints one line per stage, epoch and
boosting chunk on stderr, and the JSON report on stdout. ``efp train`` runs the same
``run_training`` with the same options: the command line wins over the YAML, which wins
over the defaults.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from data.settings import get_settings
from ray_apps.runtime import run_job

USE_GPU = ("auto", "true", "false")


class TrainOptions(BaseModel):
    """The options of a training run; ``None`` leaves the YAML's value (or its default) in place."""

    model_config = ConfigDict(extra="forbid")

    config: Path | None = Field(None, description="YAML merged over configs/training.yaml (e.g. Tune's best trial).")
    cities: list[str] | None = Field(None, description="City codes (default: every stored city).")
    until: dt.date | None = Field(None, description="Use data up to and including this date.")
    models: list[str] | None = Field(None, description="Members to train.")
    workers: int | None = Field(None, description="Ray Train workers per member.")
    use_gpu: Literal["auto", "true", "false"] | None = Field(None, description="auto: GPU if the cluster has one.")
    local: bool = Field(False, description="Fit in this process without Ray Train.")
    register_version: bool = Field(True, description="Register the trained version as a candidate.")


def run_training(options: TrainOptions, log: Callable[[str], None]):
    """Load the config, join or start Ray unless ``local``, train; returns the ``TrainReport``."""
    from training.config import load_train_config
    from training.pipeline import train

    settings = get_settings()
    config = load_train_config(options.config)
    if not options.local:
        from ray_apps.runtime import init_ray

        init_ray(settings)
    return train(settings, config, cities=options.cities, until=options.until, models=options.models,
                 workers=options.workers, use_gpu=options.use_gpu, distributed=not options.local,
                 register=options.register_version, log=log)


def _list(value: str) -> list[str]:
    return [part.strip() for part in value.split(",") if part.strip()]


def parse_args(argv: list[str] | None) -> TrainOptions:
    parser = argparse.ArgumentParser(prog="python -m ray_apps.train", description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", type=Path, help=TrainOptions.model_fields["config"].description)
    parser.add_argument("--cities", type=_list, default=None, help="Comma-separated city codes (default: all stored).")
    parser.add_argument("--until", type=dt.date.fromisoformat, help=TrainOptions.model_fields["until"].description)
    parser.add_argument("--models", type=_list, default=None, help="Members, e.g. xgboost,lstm,transformer.")
    parser.add_argument("--workers", type=int, help=TrainOptions.model_fields["workers"].description)
    parser.add_argument("--use-gpu", choices=USE_GPU, default=None, help=TrainOptions.model_fields["use_gpu"].description)
    parser.add_argument("--local", action="store_true", help=TrainOptions.model_fields["local"].description)
    parser.add_argument("--no-register", action="store_true", help="Train and evaluate, but do not register.")
    args = parser.parse_args(argv)
    return TrainOptions(config=args.config, cities=args.cities, until=args.until, models=args.models, workers=args.workers,
                        use_gpu=args.use_gpu, local=args.local, register_version=not args.no_register)


def run(argv: list[str] | None = None) -> dict:
    report = run_training(parse_args(argv), lambda line: print(line, file=sys.stderr, flush=True))
    return report.model_dump(mode="json")


def main(argv: list[str] | None = None) -> int:
    return run_job(run, argv)


if __name__ == "__main__":
    sys.exit(main())
