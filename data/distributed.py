"""Ray for the data layer: parallel ingest. (Training reads the store per city in its own
Ray Data tasks: ``training.datasets``.)

``generate_and_ingest`` runs
generate -> validate -> store for each city as its own Ray task: cities are independent
(disjoint lake partitions, their own PG transaction), so they parallelise cleanly, and
one line per finished city is the progress report.
"""

from __future__ import annotations

import datetime as dt
import sys
import time
from collections.abc import Callable

import ray

from data.catalogue import load_catalogue
from data.records import IngestSummary
from data.settings import PlatformSettings

Progress = Callable[[str], None]


def _stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def ingest_synthetic_city(
    settings: PlatformSettings, code: str, start: dt.date, days: int, seed: int, fault_rate: float
) -> IngestSummary:
    """Generate one city's history and put it through the ingest pipeline (what each task runs)."""
    from data.pipeline import ingest
    from data.synthetic import generate_city

    catalogue = load_catalogue(settings)
    batch = generate_city(catalogue.get(code), start, days, seed, fault_rate)
    return ingest(batch, settings, catalogue=catalogue)


_ingest_task = ray.remote(num_cpus=1, max_retries=1)(ingest_synthetic_city)


def _line(summary: IngestSummary, seconds: float) -> str:
    return (
        f"{'/'.join(summary.cities) or '-'}: {summary.input_rows:,} rows in, accepted {summary.accepted:,}, "
        f"repaired {summary.repaired:,}, rejected {summary.rejected:,}; inserted {summary.inserted:,}, "
        f"unchanged {summary.unchanged:,}, updated {summary.updated:,} ({seconds:.1f} s)"
    )


def generate_and_ingest(
    settings: PlatformSettings,
    cities: list[str],
    start: dt.date,
    days: int,
    seed: int,
    fault_rate: float | None = None,
    *,
    use_ray: bool = True,
    progress: Progress = _stderr,
) -> list[IngestSummary]:
    """Synthetic history for ``cities`` through the pipeline, one Ray task per city (or in turn)."""
    catalogue = load_catalogue(settings)
    codes = [catalogue.get(code).code for code in cities]  # unknown codes fail before any work
    rate = settings.ingest.fault_rate if fault_rate is None else fault_rate
    began = time.perf_counter()
    summaries: dict[str, IngestSummary] = {}
    if not use_ray:
        for code in codes:
            summaries[code] = ingest_synthetic_city(settings, code, start, days, seed, rate)
            progress(_line(summaries[code], time.perf_counter() - began))
        return [summaries[code] for code in codes]
    pending = {_ingest_task.remote(settings, code, start, days, seed, rate): code for code in codes}
    while pending:
        done, _ = ray.wait(list(pending), num_returns=1)
        code = pending.pop(done[0])
        summaries[code] = ray.get(done[0])
        progress(_line(summaries[code], time.perf_counter() - began))
    return [summaries[code] for code in codes]
