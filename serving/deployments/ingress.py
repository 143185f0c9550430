"""The HTTP ingress deployment: the FastAPI app of ``serving.api`` over the Serve graph.

``@serve.ingress()`` without an app defers building it to ``__serve_build_asgi_app__``,
which runs after ``__init__`` in the replica: the app is built around this replica's
handles, cache and registry watcher instead of module-level globals. Its metrics are also
recorded through Ray's metrics agent, so every replica's counts reach Prometheus (serving/metrics.py).
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from ray import serve
from ray.serve.handle import DeploymentHandle

from serving.api import create_api
from serving.deployments.replica import replica_settings
from serving.engines.serve import ServeEngine
from serving.wiring import build_state


@serve.deployment
@serve.ingress()
class Ingress:
    def __init__(self, preprocessor: DeploymentHandle, members: dict[str, DeploymentHandle], ensemble: DeploymentHandle,
                 settings: dict[str, Any], reload_poll_s: float) -> None:
        """``members``: member name -> its deployment, one per registered member."""
        platform = replica_settings(settings)
        engine = ServeEngine(preprocessor, members, ensemble, member_timeout_s=platform.serve.member_timeout_s,
                             stage_timeout_s=platform.serve.stage_timeout_s)
        self._state = build_state(platform, lambda _directory: engine, reload_poll_s=reload_poll_s, ray_metrics=True)

    def __serve_build_asgi_app__(self) -> FastAPI:
        return create_api(self._state)
