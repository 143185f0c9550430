"""``efp_alerts_firing{city,kind}`` on the service's ``/metrics``, read from the alert store.

The monitor writes alerts to the metadata store from a batch job; the service is what
Prometheus scrapes all the time, so it reports the open alerts. A scrape never waits on
the store: it returns the counts read last and, when they are older than ``ttl_s``,
starts one background refresh (a store that is down keeps the last counts and is logged).
Every replica reads the same store, so aggregate with ``max``, not ``sum``.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

log = logging.getLogger("efp.serving")
NAME, HELP = "efp_alerts_firing", "Open alerts by city and kind (from the alert store)"


class AlertsCollector(Collector):
    def __init__(self, read_open_alerts: Callable[[], list[dict[str, Any]]], *, ttl_s: float = 30.0) -> None:
        self._read, self._ttl = read_open_alerts, ttl_s
        self._counts: dict[tuple[str, str], int] = {}
        self._read_at = float("-inf")
        self._refreshing = threading.Lock()

    def describe(self) -> Iterator[GaugeMetricFamily]:
        yield GaugeMetricFamily(NAME, HELP, labels=["city", "kind"])

    def collect(self) -> Iterator[GaugeMetricFamily]:
        if time.monotonic() - self._read_at > self._ttl and self._refreshing.acquire(blocking=False):
            threading.Thread(target=self._refresh, name="efp-alerts-metric", daemon=True).start()
        family = GaugeMetricFamily(NAME, HELP, labels=["city", "kind"])
        for (city, kind), count in sorted(self._counts.items()):
            family.add_metric([city, kind], count)
        yield family

    def _refresh(self) -> None:
        try:
            counts: dict[tuple[str, str], int] = {}
            for alert in self._read():
                key = (alert.get("city") or "", str(alert["kind"]))
                counts[key] = counts.get(key, 0) + 1
            # A kind that was firing and is not any more shows 0 rather than vanishing.
            self._counts = {**{key: 0 for key in self._counts}, **counts}
        except Exception as error:  # the store being down must not break /metrics
            log.warning("could not read open alerts for /metrics: %s", error)
        finally:
            self._read_at = time.monotonic()
            self._refreshing.release()
