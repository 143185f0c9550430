"""Keep every forecast the service computes, without slowing the answer.

``ForecastService._finish`` hands each computed forecast to ``ForecastRecorder.record``,
which only puts it on a bounded queue; one writer thread turns queued forecasts into
``StoredForecast`` records and writes them to the forecast store in batches. A full queue
(the store far behind or down) drops the forecast and counts it rather than delaying or
failing a response: a forecast that was answered matters more than one that is kept.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import pandas as pd

from data.catalogue import City
from data.stores.forecasts import ForecastPoint, ForecastStore, Source, StoredForecast
from serving.metrics import ServiceMetrics
from training.forecast import EnsembleForecast

log = logging.getLogger("efp.serving")
BATCH = 64
#: How long the writer gathers forecasts after the first before writing them: one store write
#: per batch rather than per forecast, so a busy service pays the store's fixed cost rarely.
GATHER_S = 0.5
#: Put on the queue by ``flush``: write what was gathered now.
_FLUSH = object()


@dataclass(frozen=True)
class _Pending:
    city: City
    result: EnsembleForecast
    issued_at: pd.Timestamp


def stored_forecast(city: City, result: EnsembleForecast, issued_at: pd.Timestamp, source: Source) -> StoredForecast:
    """The store's record of one computed forecast; ``as_of`` is the issue time the answer reported
    (the requested one, else when it was computed), the target day the local date of the first block."""
    stamps = pd.DatetimeIndex(result.timestamps).tz_convert("UTC")
    as_of = result.as_of if result.as_of is not None and result.as_of < issued_at else issued_at
    # Built without validation: the stamps are UTC and the floats ours. Validating 96 points per
    # forecast cost about 3x the model's own time, in the writer thread of the ingress replica.
    points = [ForecastPoint.model_construct(ts=ts, p10=row[0], p50=row[1], p90=row[2])
              for ts, row in zip(stamps.to_pydatetime(), result.quantiles.tolist())]
    return StoredForecast(
        city=city.code, target_day=stamps[0].tz_convert(city.tz).date(), as_of=as_of.to_pydatetime(),
        model_version=result.model_version, issued_at=issued_at.to_pydatetime(),
        lead_hours=(stamps[0] - as_of) / pd.Timedelta(hours=1), degraded=result.degraded, source=source, points=points,
    )


class ForecastRecorder:
    def __init__(self, open_store: Callable[[], ForecastStore], metrics: ServiceMetrics, *,
                 source: Source = "served", max_pending: int = 1000) -> None:
        self._open_store, self._metrics, self.source = open_store, metrics, source
        self._queue: queue.Queue[_Pending | object] = queue.Queue(max_pending)
        self._store: ForecastStore | None = None
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()

    def record(self, city: City, result: EnsembleForecast) -> None:
        """Queue a computed forecast to be stored; never blocks."""
        self._ensure_thread()
        try:
            self._queue.put_nowait(_Pending(city, result, pd.Timestamp.now(tz="UTC")))
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

    def _write(self, batch: list[_Pending]) -> None:
        try:
            records = [stored_forecast(p.city, p.result, p.issued_at, self.source) for p in batch]
            if self._store is None:
                self._store = self._open_store()
            self._store.write(records)
            self._metrics.forecasts_recorded.labels("stored").inc(len(records))
        except Exception as error:  # the store being down must not stop later forecasts from being kept
            self._metrics.forecasts_recorded.labels("failed").inc(len(batch))
            log.warning("could not store %d forecast(s): %s", len(batch), error)
