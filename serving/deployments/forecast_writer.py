"""The Serve ingress's forecast writer, in a Ray actor of its own.

The ingress records every forecast it computes (``serving.recorder``). Turning them into
block rows and writing Parquet or PostgreSQL rows is CPU work under the GIL: in the ingress
process it took about a third of the replica's GIL time under load (issue 10's profile),
and every request on that replica's event loop waited behind it. Here the ingress only
queues lean copies and sends a batch every ``GATHER_S``; the actor does the rest.

One actor per ingress replica, owned by it (it goes when the replica goes), restarted by
Ray if its process dies; it reserves no CPU because it runs beside the graph's replicas.
A batch that fails, the actor being down included, is counted as failed by the recorder.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any

import ray

from data.stores import open_forecasts
from data.stores.forecasts import Source
from serving.deployments.replica import replica_settings
from serving.recorder import ForecastWriter, PendingForecast

logger = logging.getLogger("efp.serving")


class _WriterActor:
    def __init__(self, settings: dict[str, Any], source: Source) -> None:
        platform = replica_settings(settings)
        self._writer = ForecastWriter(lambda: open_forecasts(platform), source)

    def ready(self) -> bool:
        """Imports done and the store open, so the writer's start-up is paid before the service is
        ready. A store that is down is no reason to refuse traffic: its batches fail and are counted."""
        try:
            self._writer.open()
        except Exception as error:  # the store down at start: the first write opens it again
            logger.warning("the forecast store is not reachable yet: %s", error)
            return False
        return True

    def write(self, batch: list[PendingForecast]) -> int:
        return self._writer.write(batch)


def remote_writer(settings: dict[str, Any], source: Source = "served") -> Callable[[Sequence[PendingForecast]], int]:
    """A ``ForecastWriter.write`` that runs in a new actor; call it from the recorder's thread (it waits).

    Returns once the actor has started and opened the store: the replica is not ready before,
    so the first requests do not share the two cores with a worker process importing pandas."""
    actor = ray.remote(_WriterActor).options(num_cpus=0, max_restarts=-1).remote(settings, source)
    ray.get(actor.ready.remote())

    def write(batch: Sequence[PendingForecast]) -> int:
        return ray.get(actor.write.remote(list(batch)))

    return write
