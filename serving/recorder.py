"""Keep every forecast the service computes, without slowing the answer.

``ForecastService._finish`` hands each computed forecast to ``ForecastRecorder.record``,
which only puts a lean copy (``PendingForecast``: arrays and a few names) on a bounded
queue; one thread gathers queued forecasts into batches and hands each batch to a
``ForecastWriter``, which turns them into the store's block rows (``pending_blocks``) and
writes them to the forecast store. A full queue (the store far behind or down) drops the
forecast and counts it rather than delaying or failing a response: a forecast that was
answered matters more than one that is kept.

Where the writer runs is the caller's choice. In-process (the local app, the daily job) it
runs in the gathering thread. In a Serve ingress it runs in a Ray actor of its own
(``serving.deployments.forecast_writer``): building records and writing Parquet took about a
third of the ingress's GIL time under load in issue 10's profile, time that every request
on that replica's event loop waited for.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from data.catalogue import City
from data.stores.forecasts import ForecastStore, Source
from serving.metrics import ServiceMetrics
from training.forecast import EnsembleForecast

log = logging.getLogger("efp.serving")
#: Most forecasts in one write, and how long the writer gathers them after the first. A store
#: write has a large fixed cost (a Parquet part per city, the frame work around it): on this
#: 2-core machine one forecast cost 4.8 ms of CPU in batches of 25, 1.9 ms in batches of 100 and
#: 1.0 ms in batches of 250 (docs/serving.md, "Fourth profile"), so a busy service gathers for
#: two seconds; a forecast reaches the store at most that much later (the monitor reads hours later).
BATCH = 500
GATHER_S = 2.0
#: Put on the queue by ``flush``: write what was gathered now.
_FLUSH = object()


@dataclass(frozen=True)
class PendingForecast:
    """What the store keeps of one computed forecast, cheap to queue and to send to another process."""

    city: str
    tz: str
    model_version: str
    epoch_ns: np.ndarray  # block starts, UTC epoch nanoseconds
    quantiles: np.ndarray  # (blocks, 3) MW
    as_of_ns: int | None  # the issue time the answer reported
    degraded: bool
    issued_at_ns: int

    @classmethod
    def of(cls, city: City, result: EnsembleForecast, issued_at: pd.Timestamp) -> "PendingForecast":
        stamps = pd.DatetimeIndex(result.timestamps)
        stamps = stamps.tz_localize("UTC") if stamps.tz is None else stamps.tz_convert("UTC")
        return cls(city.code, city.timezone, result.model_version, stamps.as_unit("ns").asi8,
                   np.asarray(result.quantiles, dtype=float), None if result.as_of is None else result.as_of.value,
                   result.degraded, issued_at.value)


def _utc_index(epoch_ns: Sequence[int] | np.ndarray) -> pd.DatetimeIndex:
    return pd.DatetimeIndex(np.asarray(epoch_ns, dtype="int64").view("datetime64[ns]")).tz_localize("UTC")


def pending_blocks(batch: Sequence[PendingForecast], source: Source) -> pd.DataFrame:
    """The store's block rows (``BLOCK_COLUMNS``) of computed forecasts, built column by column from
    their arrays. ``as_of`` is the issue time the answer reported (the requested one, else when it was
    computed), the target day the local date of the first block, the lead from ``as_of`` to it.

    No record per forecast and point per block on the way: building those and turning them back into
    a frame was 45 % of the writer actor's CPU under load (docs/serving.md, "Fourth profile")."""
    counts = [len(p.epoch_ns) for p in batch]
    as_of_ns = [p.issued_at_ns if p.as_of_ns is None or p.as_of_ns >= p.issued_at_ns else p.as_of_ns for p in batch]
    first_blocks = [pd.Timestamp(int(p.epoch_ns[0]), tz="UTC") for p in batch]
    per_forecast = {
        "city": [p.city for p in batch],
        "target_day": [first.tz_convert(p.tz).date() for p, first in zip(batch, first_blocks)],
        "as_of": _utc_index(as_of_ns),
        "model_version": [p.model_version for p in batch],
        "issued_at": _utc_index([p.issued_at_ns for p in batch]),
        "lead_hours": [(first.value - as_of) / 3.6e12 for first, as_of in zip(first_blocks, as_of_ns)],
        "degraded": [p.degraded for p in batch],
        "source": [source] * len(batch),
    }
    columns: dict[str, Any] = {
        name: values.repeat(counts) if isinstance(values, pd.DatetimeIndex) else np.repeat(values, counts)
        for name, values in per_forecast.items()}
    columns["ts"] = _utc_index(np.concatenate([p.epoch_ns for p in batch]))
    quantiles = np.concatenate([p.quantiles for p in batch])
    columns.update(p10=quantiles[:, 0], p50=quantiles[:, 1], p90=quantiles[:, 2])
    return pd.DataFrame(columns)


class ForecastWriter:
    """Pending forecasts into the forecast store, as records of ``source``; the store is opened on first use."""

    def __init__(self, open_store: Callable[[], ForecastStore], source: Source = "served") -> None:
        self._open_store, self.source = open_store, source
        self._store: ForecastStore | None = None

    def open(self) -> ForecastStore:
        if self._store is None:
            self._store = self._open_store()
        return self._store

    def write(self, batch: Sequence[PendingForecast]) -> int:
        """Write the batch; returns how many forecasts it held (all or nothing: a failure raises)."""
        if batch:
            self.open().write_blocks(pending_blocks(batch, self.source))
        return len(batch)


class ForecastRecorder:
    def __init__(self, write: Callable[[Sequence[PendingForecast]], int], metrics: ServiceMetrics, *,
                 max_pending: int = 1000) -> None:
        """``write``: a ``ForecastWriter.write``, here or in another process."""
        self._write_batch, self._metrics = write, metrics
        self._queue: queue.Queue[PendingForecast | object] = queue.Queue(max_pending)
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()

    def record(self, city: City, result: EnsembleForecast) -> None:
        """Queue a computed forecast to be stored; never blocks."""
        self._ensure_thread()
        try:
            self._queue.put_nowait(PendingForecast.of(city, result, pd.Timestamp.now(tz="UTC")))
        except queue.Full:
            self._metrics.forecasts_recorded.labels("dropped").inc()

    def flush(self) -> None:
        """Wait until every queued forecast is written (or failed): the daily job and shutdown call it.
        The writer stops gathering at the flush mark instead of waiting out ``GATHER_S``."""
        if self._thread is not None:
            self._queue.put(_FLUSH)
            self._queue.join()

    def _ensure_thread(self) -> None:
        with self._start_lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="efp-forecast-recorder", daemon=True)
                self._thread.start()

    def _run(self) -> None:
        while True:
            batch = [self._queue.get()]
            deadline = time.monotonic() + GATHER_S
            while len(batch) < BATCH and batch[-1] is not _FLUSH:
                try:
                    batch.append(self._queue.get(timeout=max(0.0, deadline - time.monotonic())))
                except queue.Empty:
                    break
            pending = [item for item in batch if item is not _FLUSH]
            try:
                if pending:
                    self._write(pending)  # type: ignore[arg-type]
            finally:
                for _ in batch:
                    self._queue.task_done()

    def _write(self, batch: list[PendingForecast]) -> None:
        try:
            self._metrics.forecasts_recorded.labels("stored").inc(self._write_batch(batch))
        except Exception as error:  # the store being down must not stop later forecasts from being kept
            self._metrics.forecasts_recorded.labels("failed").inc(len(batch))
            log.warning("could not store %d forecast(s): %s", len(batch), (str(error).strip().splitlines() or [type(error).__name__])[-1])
