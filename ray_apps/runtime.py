"""Start or join Ray for an entrypoint (CLI command, ``python -m ray_apps.<job>``).

Only entrypoints call this: library code receives a running Ray. Inside ``ray job
submit`` the driver finds the cluster through ``RAY_ADDRESS``; with no address in the
settings either, a new local Ray is started (``address="local"``) without the dashboard
(it costs seconds on a small machine and nothing here needs it). "local" rather than
None: a bare ``ray.init()`` joins whatever cluster ``/tmp/ray/ray_current_cluster``
names, and hangs for minutes when that cluster is gone. Lines forwarded from Ray's workers
(``log_to_driver``) are sorted by ray_apps/ray_logs.py: Ray's own go to
``<data_dir>/logs/ray.log``, our stage/epoch/round lines stay on the console.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from typing import Any

from data.config_files import config_path
from data.errors import PlatformError
from data.settings import PlatformSettings


def init_ray(settings: PlatformSettings, *, num_cpus: int | None = None, log_to_driver: bool = True) -> bool:
    """Make sure this process is connected to Ray; returns True when this call started or joined it."""
    import ray

    from data.log_masking import install_log_masking

    install_log_masking(settings)
    # Before Ray Data is imported (it reads this at import and per dataset); workers of a local Ray inherit it.
    os.environ.setdefault("RAY_DATA_LOGGING_CONFIG", str(config_path("ray_data_logging.yaml")))
    if ray.is_initialized():
        return False
    # "local" rather than None: a bare ray.init() joins whatever cluster `ray start` left on
    # this machine, which is never what an unconfigured run means.
    address = settings.ray_address or os.environ.get("RAY_ADDRESS") or "local"
    options: dict = {"ignore_reinit_error": True, "log_to_driver": log_to_driver}
    if address == "local":
        options.update(include_dashboard=False, num_cpus=num_cpus)
        # Workers of a local Ray inherit this environment. Ray Data's per-worker progress
        # bars arrive at the driver as hundreds of half-drawn lines; our own stage and
        # epoch lines say the same thing once.
        os.environ.setdefault("RAY_DATA_DISABLE_PROGRESS_BARS", "1")
    ray.init(address=address, **options)
    if log_to_driver:
        _route_ray_logs(settings)
    return True


def _route_ray_logs(settings: PlatformSettings) -> None:
    """Ray's per-report, checkpoint and controller lines to ``<data_dir>/logs/ray.log``,
    ours on the console (ray_apps/ray_logs.py). Ray's printer stays if its internals moved."""
    from ray_apps.ray_logs import route_ray_logs

    try:
        route_ray_logs(settings.data_dir)
    except (ImportError, AttributeError, OSError) as error:  # a private Ray API: never fatal
        print(f"(Ray's log lines stay on the console: {type(error).__name__}: {error})", file=sys.stderr)


def run_job(run: Callable[[list[str] | None], Any], argv: list[str] | None = None) -> int:
    """``main`` of a ``python -m ray_apps.<job>`` module: the exit status of ``run(argv)``.

    Schedulers read the JSON result on stdout; a user's mistake becomes one ``error: ...``
    line on stderr and the error's own exit code, the same for every job.
    """
    try:
        result = run(argv)
    except PlatformError as error:
        print(f"error: {error}", file=sys.stderr)
        return error.exit_code
    print(json.dumps(result, indent=2))
    return 0
