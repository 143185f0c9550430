"""The HTTP ingress deployment: the FastAPI app of ``serving.api`` over the Serve graph.

``@serve.ingress()`` without an app defers building it to ``__serve_build_asgi_app__``,
which runs after ``__init__`` in the replica: the app is built around this replica's
handles, cache and registry watcher instead of module-level globals. Its metrics are also
recorded through Ray's metrics agent, so every replica's counts reach Prometheus (serving/metrics.py).

The handles it is bound with are remade here (:func:`own_handle`): a handle carries the
transport defaults of the process that made it, and the builder's are those of wherever
``ray.serve`` was first imported, not those of this replica.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from ray import serve
from ray.serve.handle import DeploymentHandle

from serving.api import create_api
from serving.deployments.forecast_writer import remote_writer
from serving.deployments.replica import replica_settings
from serving.engines.serve import ServeEngine
from serving.middleware import buffer_access_log
from serving.wiring import build_state


def own_handle(handle: DeploymentHandle) -> DeploymentHandle:
    """The same deployment's handle, made in this replica so that it carries this process's
    transport: gRPC between deployments under throughput-optimised Serve.

    Serve pickles a handle's options with it, and ``DeploymentHandle``'s default transport
    is read when ``ray.serve`` is imported. The bound handles were made by the builder
    (``serve.run`` in a driver, ``serve build``), often before the fast paths were in its
    environment, and kept Ray's actor calls: a bare hop between two replicas took 4.3 ms
    that way on this 2-core machine, 1.9 ms over gRPC (docs/serving.md)."""
    return serve.get_deployment_handle(handle.deployment_name, handle.app_name)


@serve.deployment
@serve.ingress()
class Ingress:
    def __init__(self, preprocessor: DeploymentHandle, members: dict[str, DeploymentHandle], ensemble: DeploymentHandle,
                 settings: dict[str, Any], reload_poll_s: float) -> None:
        """``members``: member name -> its deployment, one per registered member."""
        platform = replica_settings(settings)
        preprocessor, ensemble = own_handle(preprocessor), own_handle(ensemble)
        members = {name: own_handle(handle) for name, handle in members.items()}
        self._handles = {"Preprocessor": preprocessor, "Ensemble": ensemble,
                         **{handle.deployment_name: handle for handle in members.values()}}
        engine = ServeEngine(preprocessor, members, ensemble, member_timeout_s=platform.serve.member_timeout_s,
                             stage_timeout_s=platform.serve.stage_timeout_s)
        self._state = build_state(platform, lambda _directory: engine, reload_poll_s=reload_poll_s, ray_metrics=True,
                                  record_write=remote_writer(settings))

    def transports(self) -> dict[str, str]:
        """Deployment -> how this replica's requests reach it: "grpc" or "actor" (Ray actor calls).

        Read from the handle's own options (Ray keeps the choice in a private field, the
        only place it is kept): the suite checks that the configured fast path is the one taken."""
        return {name: "actor" if handle.handle_options._by_reference else "grpc" for name, handle in self._handles.items()}

    def __serve_build_asgi_app__(self) -> FastAPI:
        app = create_api(self._state)
        buffer_access_log()
        return app
