"""Start or join Ray for an entrypoint (CLI command, ``python -m ray_apps.<job>``).

Only entrypoints call this: library code receives a running Ray. Inside ``ray job
submit`` the driver finds the cluster through ``RAY_ADDRESS``; with no address in the
settings either, a new local Ray is started (``address="local"``) without the dashboard
(it costs seconds on a small machine and nothing here needs it). "local" rather than
None: a bare ``ray.init()`` joins whatever cluster ``/tmp/ray/ray_current_cluster``
names, and hangs for minutes when that cluster is gone.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from typing import Any

from data.errors import PlatformError
from data.settings import PlatformSettings


def init_ray(settings: PlatformSettings, *, num_cpus: int | None = None, log_to_driver: bool = True) -> bool:
    """Make sure this process is connected to Ray; returns True when this call started or joined it."""
    import ray

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
    return True


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
