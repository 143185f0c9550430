"""Ray job: train the ensemble and register it as a candidate version.

    python -m ray_apps.train --cities DEL,MUM --until 2024-12-31 --models xgboost,lstm --workers 2
    python -m ray_apps.train --config configs/training-demo.yaml --local
    ray job submit --working-dir . -- python -m ray_apps.train --cities DEL

Settings come from configs/ in the working directory (``EFP_*`` overrides), so the same
command runs locally and through ``ray job submit``. Prints one line per stage, epoch and
boosting chunk on stderr, and the JSON report on stdout.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from pathlib import Path

from data.settings import get_settings
from ray_apps.runtime import run_job

USE_GPU = ("auto", "true", "false")


def _list(value: str) -> list[str]:
    return [part.strip() for part in value.split(",") if part.strip()]


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m ray_apps.train", description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", type=Path, help="YAML merged over configs/training.yaml (e.g. Tune's best trial).")
    parser.add_argument("--cities", type=_list, default=None, help="Comma-separated city codes (default: all stored).")
    parser.add_argument("--until", type=dt.date.fromisoformat, help="Use data up to and including this date.")
    parser.add_argument("--models", type=_list, default=None, help="Members, e.g. xgboost,lstm,transformer.")
    parser.add_argument("--workers", type=int, help="Ray Train workers per member.")
    parser.add_argument("--use-gpu", choices=USE_GPU, default=None, help="auto: GPU if the cluster has one.")
    parser.add_argument("--local", action="store_true", help="Fit in this process without Ray Train.")
    parser.add_argument("--no-register", action="store_true", help="Train and evaluate, but do not register.")
    return parser.parse_args(argv)


def run(argv: list[str] | None = None) -> dict:
    from training.config import load_train_config
    from training.pipeline import train

    args = parse_args(argv)
    settings = get_settings()
    config = load_train_config(args.config)
    if not args.local:
        from ray_apps.runtime import init_ray

        init_ray(settings)

    def log(line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    report = train(settings, config, cities=args.cities, until=args.until, models=args.models, workers=args.workers,
                   use_gpu=args.use_gpu or config.scaling.use_gpu, distributed=not args.local,
                   register=not args.no_register, log=log)
    return report.model_dump(mode="json")


def main(argv: list[str] | None = None) -> int:
    return run_job(run, argv)


if __name__ == "__main__":
    sys.exit(main())
