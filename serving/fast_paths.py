"""Ray Serve's fast paths, chosen in configs/serve/deployments.yaml instead of scattered
environment variables.

Ray 2.60 reads these switches from the environment of every Serve process (controller,
proxies, replicas) when ``ray.serve`` is imported, so they cannot be set per deployment or
after the fact. What sets them:

- a local Ray started by an entrypoint (``efp serve``, the demo, the benchmark, the test
  session): :func:`apply` puts them in this process's environment before ``ray.init``,
  and every Ray worker inherits it;
- a KubeRay cluster: the containers' ``env`` in cluster/base/rayservice.yaml
  (tests/cluster/test_manifests.py fails when they differ from the config).

What each switch bought on the benchmark is in docs/serving.md.
"""

from __future__ import annotations

import os
import shutil
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

HAPROXY_BINARY = "haproxy"


class FastPaths(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    throughput_optimized: bool = Field(
        True,
        description="RAY_SERVE_THROUGHPUT_OPTIMIZED: direct ingress (the ingress replica serves HTTP itself), "
        "gRPC between deployments, user code and router on the replica's event loop, buffered request logs.",
    )
    haproxy: Literal["auto", "on", "off"] = Field(
        "off",
        description="RAY_SERVE_ENABLE_HA_PROXY: HAProxy as the ingress proxy in front of the ingress replicas. "
        "'auto' turns it on where the haproxy binary is installed.",
    )

    def haproxy_enabled(self) -> bool:
        if self.haproxy == "auto":
            return shutil.which(HAPROXY_BINARY) is not None
        return self.haproxy == "on"

    def environment(self) -> dict[str, str]:
        """The environment variables Ray Serve reads for these choices (every one, so none is inherited by accident)."""
        return {
            "RAY_SERVE_THROUGHPUT_OPTIMIZED": "1" if self.throughput_optimized else "0",
            "RAY_SERVE_ENABLE_HA_PROXY": "1" if self.haproxy_enabled() else "0",
        }

    def describe(self) -> str:
        """One line for the console: which fast paths this process starts Serve with.

        'auto' without the binary says so: Serve's proxy actor in front of a direct ingress took
        the graph-shape benchmark from 100 to 8.5 requests/s at concurrency 32 (docs/serving.md)."""
        on = [name for name, value in (("throughput-optimised", self.throughput_optimized),
                                       ("HAProxy ingress", self.haproxy_enabled())) if value]
        if self.haproxy == "auto" and not self.haproxy_enabled():
            on.append(f"no HAProxy ingress ({HAPROXY_BINARY} not installed: Debian's haproxy package)")
        return ", ".join(on) if on else "Serve defaults"


def apply(fast_paths: FastPaths) -> dict[str, str]:
    """Put the switches in this process's environment (before ``ray.init`` starts a local Ray).

    An explicit ``RAY_SERVE_*`` value already in the environment wins: an operator's
    one-off override (e.g. to compare both settings) must not be silently undone.
    """
    applied = {}
    for key, value in fast_paths.environment().items():
        applied[key] = os.environ.setdefault(key, value)
    return applied
