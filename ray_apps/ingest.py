"""Ray job: ingest synthetic history or a file into the configured stores.

    python -m ray_apps.ingest synthetic --cities DEL,MUM --start 2023-01-01 --days 730 --seed 42
    python -m ray_apps.ingest csv data.csv --city DEL
    ray job submit --working-dir . -- python -m ray_apps.ingest synthetic --cities DEL --days 30

Synthetic cities run as one Ray task each (generate -> validate -> store in parallel);
a file is one batch, read and stored by the driver. Prints one line per city and a JSON
summary at the end (machine-readable for schedulers); exits non-zero with a one-line
message on bad input.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys

from data.catalogue import load_catalogue
from data.settings import get_settings
from ray_apps.runtime import run_job

SOURCES = ("synthetic", "csv", "parquet", "open-meteo", "sldc", "psp")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m ray_apps.ingest", description=__doc__.split("\n\n")[0])
    parser.add_argument("source", choices=SOURCES)
    parser.add_argument("path", nargs="?", help="File to import (not for synthetic).")
    parser.add_argument("--cities", default="", help="Synthetic: comma-separated codes (default: catalogue).")
    parser.add_argument("--start", type=dt.date.fromisoformat, default=dt.date(2023, 1, 1))
    parser.add_argument("--days", type=int, default=730)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--fault-rate", type=float, default=None)
    parser.add_argument("--city", help="Files: city code when the file has no city column.")
    parser.add_argument("--timezone", help="Files: timezone of timestamps without an offset.")
    parser.add_argument("--date", type=dt.date.fromisoformat, help="SLDC/PSP: report date.")
    parser.add_argument("--local", action="store_true", help="Synthetic: run cities in turn without Ray.")
    args = parser.parse_args(argv)
    if args.source != "synthetic" and not args.path:
        parser.error(f"{args.source} needs a PATH")
    if args.source == "open-meteo" and not args.city:
        parser.error("open-meteo needs --city")
    return args


def run(argv: list[str] | None = None) -> list[dict]:
    args = parse_args(argv)
    settings = get_settings()
    if args.source == "synthetic":
        from data.distributed import generate_and_ingest

        codes = [c.strip() for c in args.cities.split(",") if c.strip()] or load_catalogue(settings).codes
        if not args.local:
            from ray_apps.runtime import init_ray

            init_ray(settings)
        summaries = generate_and_ingest(
            settings, codes, args.start, args.days, args.seed, args.fault_rate, use_ray=not args.local
        )
        return [s.model_dump(mode="json") for s in summaries]
    from data.connectors import CONNECTORS
    from data.pipeline import ingest

    catalogue = load_catalogue(settings)
    options: dict = {"catalogue": catalogue, "default_timezone": args.timezone, "chunk_rows": settings.ingest.chunk_rows}
    if args.city:  # else each reader keeps its own default (SLDC: Delhi)
        options["city"] = catalogue.get(args.city).code
    if args.date:
        options["date"] = args.date
    batch = CONNECTORS[args.source](args.path, **options)
    summary = ingest(batch, settings, catalogue=catalogue)
    print(f"{args.path}: {summary.input_rows:,} rows, inserted {summary.inserted:,}, unchanged {summary.unchanged:,}",
          file=sys.stderr)
    return [summary.model_dump(mode="json")]


def main(argv: list[str] | None = None) -> int:
    return run_job(run, argv)


if __name__ == "__main__":
    sys.exit(main())
