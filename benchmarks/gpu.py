"""GPU check: every member trained on Ray Train with ``use_gpu=true`` and with CPU workers,
on the same small synthetic set; samples/s (sequence members) and wall time (all) side by side.

Meant for a machine with a CUDA GPU (one prepared run): it refuses to start without one
rather than report a CPU run as a GPU figure. Install the CUDA build of torch first
(docs/gpu.md). Writes the "gpu" section of docs/benchmarks.md.

    python -m benchmarks.gpu [--cities 3] [--days 120] [--epochs 3] [--rounds 100] [--no-report] [--json]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
import time

from benchmarks.report import markdown_table, write_section

MEMBERS = ("xgboost", "lstm", "transformer")


def _data(cities: int, days: int):
    from data.catalogue import load_catalogue
    from data.settings import get_settings
    from training.config import TrainConfig
    from training.data_prep import build_training_data
    from training.synthetic_frames import synthetic_frames

    catalogue = load_catalogue(get_settings())
    chosen = list(catalogue)[:cities]
    frames = {c.code: synthetic_frames(c, dt.date(2023, 1, 1), days, seed=2) for c in chosen}
    config = TrainConfig.model_validate({"split": {"validation_days": 14, "test_days": 7, "cv_folds": 1},
                                         "features": {"origins_per_day": 8, "history_days": 2}})
    return build_training_data(chosen, frames, 15, config)


def _fit(name: str, data, use_gpu: bool, epochs: int, rounds: int) -> dict:
    import numpy as np

    from training.fitting import fit_member
    from training.scaling import ScalingSpec

    params = ({"num_boost_round": rounds, "early_stopping_rounds": rounds + 1, "report_every": rounds} if name == "xgboost"
              else {"epochs": epochs, "patience": epochs + 1, "batch_size": 256})
    scaling = ScalingSpec(workers=1, cpus_per_worker=4 if not use_gpu else 2, use_gpu="true" if use_gpu else "false", max_failures=0)
    began = time.perf_counter()
    outcome = fit_member(name, params, data, scaling=scaling, log=lambda _: None)
    seconds = time.perf_counter() - began
    rates = [h["samples_per_s"] for h in outcome.history if "samples_per_s" in h]
    return {"member": name, "device": "gpu" if use_gpu else "cpu", "fit_s": round(seconds, 1),
            "samples_per_s": round(float(np.median(rates[1:] or rates))) if rates else None,
            "validation_pinball": round(outcome.validation_pinball, 4)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.gpu", description=__doc__.split("\n\n")[0])
    parser.add_argument("--cities", type=int, default=3)
    parser.add_argument("--days", type=int, default=120)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=100)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--no-report", action="store_true", help="print only; do not write docs/benchmarks.md")
    args = parser.parse_args(argv)
    import ray
    import torch

    from data.settings import get_settings
    from ray_apps.runtime import init_ray

    if not torch.cuda.is_available():
        print("benchmarks.gpu: no CUDA GPU visible to torch here; run it on a GPU machine (docs/gpu.md)", file=sys.stderr)
        return 2
    init_ray(get_settings())
    if ray.cluster_resources().get("GPU", 0) < 1:
        print("benchmarks.gpu: Ray sees no GPU resource", file=sys.stderr)
        return 2
    data = _data(args.cities, args.days)
    rows = []
    for name in MEMBERS:
        for use_gpu in (False, True):
            rows.append(_fit(name, data, use_gpu, args.epochs, args.rounds))
            print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
    device = torch.cuda.get_device_name(0)
    for name in MEMBERS:
        cpu, gpu = (next(r for r in rows if r["member"] == name and r["device"] == d) for d in ("cpu", "gpu"))
        gpu["speedup_vs_cpu"] = round(cpu["fit_s"] / gpu["fit_s"], 2)
    body = (f"GPU: {device}; {args.cities} synthetic cities x {args.days} days, {data.count('train')} training issue times. "
            f"One Ray Train worker per fit (CPU: 4 CPUs; GPU: 1 GPU + 2 CPUs), {args.epochs} epochs / {args.rounds} rounds.\n\n"
            + markdown_table(rows))
    print(json.dumps(rows) if args.json else body)
    if not args.no_report:
        write_section("gpu", "GPU training (use_gpu=true vs CPU workers)", body)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
