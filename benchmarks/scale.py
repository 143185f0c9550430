"""Scale benchmark: 4, 32 and 128 synthetic cities x 400 days at 15 minutes, from the store to a fitted XGBoost.

Each city count runs in its own process (peak RSS only grows within a process), on a
fresh Parquet lake in a temporary folder and a fresh local Ray:

1. ingest: the synthetic cities through the validating pipeline, one Ray task per city
   (set-up, timed for reference only);
2. data stage: ``prepare_training_data(engine="ray")``, store to training-ready shards
   (per-city Ray Data tasks read the city's partitions, build features and cut samples,
   materialized in the object store); rows/s counts the load rows those tasks read;
3. XGBoost fit: ``fit_member("xgboost")`` on Ray Train over the dataset shards, fixed rounds.

The driver process's own peak RSS (``ru_maxrss``; Ray workers are separate processes and
not counted) is read at the end. Acceptance (issue 9): driver peak RSS at 32 cities <= 1.5x
its peak at 4; data-stage rows/s at 32 >= at 4.

    python -m benchmarks.scale [--cities 4,32,128] [--days 400] [--rounds 20] [--json] [--no-report]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import resource
import subprocess  # nosec B404: runs this module again, one city count per process
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.report import markdown_table, write_section

START = dt.date(2023, 1, 1)
#: Every stored day is read and cut; sized so that 128 cities x 400 days fit a 2-core, 24 GiB machine's
#: object store: the demo's features, one issue time a day (00:00 local, leads 0/24/48 h).
SCALE_CONFIG = {
    "features": {"history_days": 1, "origins_per_day": 1, "issue_hours": [0]},
    "split": {"validation_days": 21, "test_days": 14},
    "scaling": {"workers": 2, "cpus_per_worker": 1.0, "use_gpu": "false", "max_failures": 0},
}
RSS_RATIO_TARGET = 1.5


def synthetic_cities(settings, count: int) -> list[str]:
    """``count`` catalogue cities S001.. modelled on the shipped ones (their climate and calendar), other sizes."""
    from data.catalogue import City, load_catalogue

    catalogue = load_catalogue(settings)
    shipped = list(catalogue)
    codes = []
    for i in range(count):
        base = shipped[i % len(shipped)]
        code = f"S{i + 1:03d}"
        if code not in catalogue:
            catalogue.add(City(**{**base.model_dump(), "code": code, "name": f"{base.name} synthetic {i + 1}",
                                  "peak_mw": round(base.peak_mw * (0.6 + 0.8 * ((i * 37) % 100) / 100), 1)}))
        codes.append(code)
    return codes


def run_one(cities: int, days: int, rounds: int) -> dict:
    """One city count, in this process: ingest, data stage, XGBoost fit, driver peak RSS."""
    from data.distributed import generate_and_ingest
    from data.settings import load_settings
    from ray_apps.runtime import init_ray
    from training.config import parse_config
    from training.data_prep import prepare_training_data
    from training.fitting import fit_member
    from training.ray_train import storage_at

    folder = Path(tempfile.mkdtemp(prefix=f"efp-scale-{cities}-"))
    settings = load_settings(data_dir=folder / "var", registry_uri=str(folder / "registry"))
    init_ray(settings, num_cpus=os.cpu_count())
    rss_after_start = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    codes = synthetic_cities(settings, cities)
    began = time.perf_counter()
    summaries = generate_and_ingest(settings, codes, START, days, seed=3, fault_rate=0.002, progress=lambda _: None)
    ingest_s = time.perf_counter() - began
    load_rows = sum(s.inserted for s in summaries)

    config = parse_config({**SCALE_CONFIG, "members": {"xgboost": {
        "num_boost_round": rounds, "early_stopping_rounds": rounds + 1, "report_every": rounds, "max_depth": 6, "eta": 0.15}}})
    began = time.perf_counter()
    data = prepare_training_data(settings, config, codes, None, engine="ray")
    data_s = time.perf_counter() - began
    read_rows = sum(int(round((data.windows["end"] - data.windows["train_start"]) / dt.timedelta(minutes=15))) for _ in codes)

    began = time.perf_counter()
    outcome = fit_member("xgboost", config.member_params("xgboost"), data, scaling=config.scaling,
                         storage=storage_at(str(folder / "ray_results")), seed=config.seed, log=lambda _: None)
    fit_s = time.perf_counter() - began
    return {
        "cities": cities, "days": days, "ingested_load_rows": load_rows, "ingest_s": round(ingest_s, 1),
        "data_stage_s": round(data_s, 1), "data_rows_read": read_rows, "data_rows_per_s": round(read_rows / data_s),
        "train_samples": data.count("train"), "xgboost_rounds": rounds, "xgboost_fit_s": round(fit_s, 1),
        "validation_pinball": round(outcome.validation_pinball, 4),
        "driver_rss_after_ray_start_mb": round(rss_after_start),
        "driver_peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
    }


def _in_subprocess(cities: int, days: int, rounds: int) -> dict:
    command = [sys.executable, "-m", "benchmarks.scale", "--one", str(cities), "--days", str(days), "--rounds", str(rounds)]
    done = subprocess.run(command, capture_output=True, text=True, check=False)  # nosec B603: our own module, fixed argv
    if done.returncode != 0:
        raise RuntimeError(f"{cities} cities failed: {done.stderr.strip().splitlines()[-1] if done.stderr.strip() else done.returncode}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def summarise(rows: list[dict]) -> dict:
    by = {r["cities"]: r for r in rows}
    out: dict = {"runs": rows}
    if 4 in by and 32 in by:
        out["rss_ratio_32_vs_4"] = round(by[32]["driver_peak_rss_mb"] / by[4]["driver_peak_rss_mb"], 3)
        out["throughput_ratio_32_vs_4"] = round(by[32]["data_rows_per_s"] / by[4]["data_rows_per_s"], 3)
        out["targets_met"] = {"driver_rss": out["rss_ratio_32_vs_4"] <= RSS_RATIO_TARGET,
                              "data_throughput": out["throughput_ratio_32_vs_4"] >= 1.0}
    return out


def report_body(summary: dict) -> str:
    lines = [
        "Synthetic cities (S001.., modelled on the catalogue's) x days at 15 minutes on a fresh lake; each city count in its "
        "own process with a fresh local Ray. Data stage = `prepare_training_data(engine=\"ray\")` (per-city Ray Data tasks: "
        "read the city's partitions, features, samples of every split, materialized in the object store); XGBoost = Ray Train "
        "`XGBoostTrainer`, 2 workers x 1 CPU, fixed rounds, reading dataset shards. Driver RSS is the driver process's own "
        "`ru_maxrss` (Ray workers excluded).",
        markdown_table([{k: v for k, v in r.items() if k not in ("days",)} for r in summary["runs"]]),
    ]
    if "targets_met" in summary:
        met = summary["targets_met"]
        lines.append(
            f"Driver peak RSS 32 vs 4 cities: **{summary['rss_ratio_32_vs_4']}x** (target <= {RSS_RATIO_TARGET}x: "
            f"**{'met' if met['driver_rss'] else 'missed'}**). Data-stage rows/s 32 vs 4 cities: "
            f"**{summary['throughput_ratio_32_vs_4']}x** (target >= 1: **{'met' if met['data_throughput'] else 'missed'}**).")
    lines.append(MULTI_NODE)
    return "\n\n".join(lines)


MULTI_NODE = (
    "On a multi-node cluster the same run reads the same way, spread out: the driver (the RayJob's submitter) plans "
    "from each city's stored span (one indexed min/max query per city) and never reads a series; each city's data task "
    "runs on whichever node has a free CPU and reads that city's rows from PostgreSQL (production's store; the embedded "
    "Parquet lake must then be on storage every node mounts); the city's block stays in that node's object store; Ray "
    "Train workers pull the blocks of their shard from the nodes holding them. The data stage scales with the nodes' "
    "CPUs, the object store across nodes bounds how many cities fit at once (Ray spills beyond it), and the driver's "
    "memory stays flat.")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.scale", description=__doc__.split("\n\n")[0])
    parser.add_argument("--cities", default="4,32,128", help="comma-separated city counts")
    parser.add_argument("--days", type=int, default=400)
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--json", action="store_true", help="print the results as one JSON object")
    parser.add_argument("--no-report", action="store_true", help="print only; do not write docs/benchmarks.md")
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)  # one city count in this process (internal)
    args = parser.parse_args(argv)
    if args.one:
        print(json.dumps(run_one(args.one, args.days, args.rounds)), flush=True)
        return 0
    rows = []
    for count in [int(c) for c in args.cities.split(",") if c.strip()]:
        print(f"scale: {count} cities x {args.days} days ...", file=sys.stderr, flush=True)
        rows.append(_in_subprocess(count, args.days, args.rounds))
        print(f"scale: {json.dumps(rows[-1])}", file=sys.stderr, flush=True)
    summary = summarise(rows)
    body = report_body(summary)
    print(json.dumps(summary) if args.json else body)
    if not args.no_report:
        write_section("scale", "Scale: data stage and XGBoost fit at 4, 32 and 128 cities", body)
    return 0 if all(summary.get("targets_met", {}).values()) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
