"""Run the forecast service until asked to stop: ``efp serve``, ``python -m ray_apps.serve``
and the demo all come through here (``run_local_service``: the in-process engine under
uvicorn, no Ray, for ``efp serve --engine local``).

It joins ``settings.ray_address`` (or ``RAY_ADDRESS``) when given, else starts a local Ray
of its own (``ray_apps.runtime.init_ray``, like every entrypoint); on Ctrl-C or SIGTERM
it deletes the app, shuts Serve down and, if it started Ray, shuts that down too, so
nothing is left running.
"""

from __future__ import annotations

import logging
import signal
import ssl
import threading
from collections.abc import Callable
from types import FrameType
from typing import TYPE_CHECKING

import httpx

from data.settings import PlatformSettings
from ray_apps.runtime import init_ray
from serving.auth import AUTH_DISABLED_WARNING
from serving.config import DEFAULT_DEPLOYMENTS_FILE, ServeArgs, load_deployments_config
from serving.fast_paths import apply as apply_fast_paths
from serving.tls import own_certificate_context, server_tls, service_url

if TYPE_CHECKING:
    import uvicorn

Say = Callable[[str], None]


def wait_ready(url: str, timeout_s: float = 300, stop: threading.Event | None = None,
               verify: ssl.SSLContext | bool = True) -> None:
    """Poll /readyz until it answers 200 (models loaded, registry reachable)."""
    import time

    deadline = time.monotonic() + timeout_s
    last = "no answer"
    while time.monotonic() < deadline and not (stop and stop.is_set()):
        try:
            response = httpx.get(f"{url}/readyz", timeout=5, verify=verify)
            if response.status_code == 200:
                return
            last = response.text
        except httpx.HTTPError as error:
            last = str(error)
        time.sleep(0.5)
    raise TimeoutError(f"service at {url} not ready after {timeout_s:.0f} s: {last}")


def http_options(settings: PlatformSettings, port: int) -> dict[str, str | int | float]:
    """Ray Serve's HTTP proxy options: address, port, the request timeout and, when configured, the TLS pair
    (HTTPOptions ssl_certfile/ssl_keyfile)."""
    return {"host": settings.serve.host, "port": port, "request_timeout_s": settings.serve.request_timeout_s,
            **server_tls(settings.serve)}


def _readiness_verify(settings: PlatformSettings) -> ssl.SSLContext | bool:
    cert = settings.serve.tls_cert_file
    return own_certificate_context(cert) if cert is not None else True


def local_server(settings: PlatformSettings, port: int | None = None) -> "uvicorn.Server":
    """The HTTP API over the in-process engine under uvicorn (HTTPS when ``serve.tls_*`` are set), not started."""
    import uvicorn

    from serving.api import create_api
    from serving.wiring import local_state

    config = uvicorn.Config(create_api(local_state(settings)), host=settings.serve.host, port=port or settings.serve.port,
                            log_config=None, **server_tls(settings.serve))  # type: ignore[arg-type]
    return uvicorn.Server(config)


def run_local_service(settings: PlatformSettings, *, port: int | None = None, say: Say = print) -> int:
    """Serve the in-process engine (no Ray) until Ctrl-C/SIGTERM, which uvicorn handles."""
    server = local_server(settings, port)
    url = service_url(settings.serve, server.config.port)
    say(f"forecast service (in-process engine, no Ray) at {url}  (OpenAPI: {url}/docs); press Ctrl-C to stop")
    if not settings.auth_enabled:
        say(f"WARNING: {AUTH_DISABLED_WARNING}")
    server.run()
    return 0


def run_service(settings: PlatformSettings, *, port: int | None = None, say: Say = print,
                on_ready: Callable[[str], None] | None = None, exit_after: bool = False,
                deployments_file: str = DEFAULT_DEPLOYMENTS_FILE) -> int:
    """Start the app, call ``on_ready(url)``, then serve until Ctrl-C/SIGTERM (or return at once with ``exit_after``)."""
    import ray
    from ray import serve

    from serving.app import APP_NAME, build_app

    stop = threading.Event()

    def _stop(signum: int, frame: FrameType | None) -> None:
        stop.set()

    started_ray = False
    previous: dict[int, object] = {}
    fast_paths = load_deployments_config(deployments_file).fast_paths
    try:
        apply_fast_paths(fast_paths)  # before Ray starts: its Serve processes read them at import
        started_ray = init_ray(settings, log_to_driver=False)  # replicas log to files, not to this console
        # Serve's driver-side INFO lines ("Started Serve", "Deploying app", one per deployment) say
        # what our own start/ready lines say; its warnings and errors still reach the console.
        logging.getLogger("ray.serve").setLevel(logging.WARNING)
        # After ray.init, which installs its own SIGTERM handler: ours must win so we shut down cleanly.
        previous = {sig: signal.signal(sig, _stop) for sig in (signal.SIGINT, signal.SIGTERM)}
        port = port or settings.serve.port
        url = service_url(settings.serve, port)
        serve.start(http_options=http_options(settings, port))
        say(f"starting the forecast service (Ray Serve app '{APP_NAME}'; {fast_paths.describe()}) ...")
        if not settings.auth_enabled:
            say(f"WARNING: {AUTH_DISABLED_WARNING}")
        args = ServeArgs(deployments_file=deployments_file, settings=settings.transport())
        serve.run(build_app(args), name=APP_NAME, route_prefix="/", blocking=False)
        wait_ready(url, stop=stop, verify=_readiness_verify(settings))
        say(f"forecast service ready at {url}  (OpenAPI: {url}/docs)")
        if on_ready is not None:
            on_ready(url)
        if not exit_after:
            say("serving; press Ctrl-C to stop")
            while not stop.wait(0.5):
                pass
        return 0
    finally:
        say("stopping the forecast service ...")
        try:
            serve.shutdown()
        finally:
            if started_ray:
                ray.shutdown()
            for sig, handler in previous.items():
                signal.signal(sig, handler)  # type: ignore[arg-type]
        say("stopped")
