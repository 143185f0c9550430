"""Deployment resources of the forecast service, read from ``serve/deployments.yaml`` of the configs folder.

Ray Serve accepts a misspelt ``autoscaling_config`` key without a word, so the file is
validated here with ``extra="forbid"`` models first: a typo fails at build time naming
the key. ``ServeArgs`` is the typed argument of the application builder
(``serving.app:build_app``), which ``serve build`` and ``serve run`` fill from YAML.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from data.config_files import ConfigFileError, config_path, load_yaml_model
from serving.fast_paths import FastPaths
from training.members.registry import member_specs

#: A name in the configs folder; an absolute path names any file.
DEFAULT_DEPLOYMENTS_FILE = "serve/deployments.yaml"
#: Production's: two replicas at least of every deployment on the request path.
PRODUCTION_DEPLOYMENTS_FILE = "serve/deployments.prod.yaml"
#: Deployments that are not members, in the order a request flows through them (members sit between).
GRAPH_DEPLOYMENTS: tuple[str, ...] = ("Ingress", "Preprocessor", "Ensemble")


def member_deployments() -> dict[str, str]:
    """Member deployment name -> member name, one per registered member (``training.members.registry``)."""
    return {spec.deployment: spec.name for spec in member_specs()}


def deployment_names() -> tuple[str, ...]:
    """Every deployment of the graph, in the order a request flows through them."""
    return (*GRAPH_DEPLOYMENTS[:2], *member_deployments(), GRAPH_DEPLOYMENTS[2])


class ServeConfigError(ConfigFileError):
    """serve/deployments.yaml is missing or malformed; the message names the file and key."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Autoscaling(_Strict):
    """The subset of Ray's AutoscalingConfig this platform uses (unknown keys refused)."""

    min_replicas: int = Field(1, ge=0)
    initial_replicas: int | None = Field(None, ge=0)
    max_replicas: int = Field(1, ge=1)
    target_ongoing_requests: float = Field(2.0, gt=0)
    upscale_delay_s: float = Field(30.0, ge=0)
    downscale_delay_s: float = Field(600.0, ge=0)
    metrics_interval_s: float = Field(10.0, gt=0)
    look_back_period_s: float = Field(30.0, gt=0)

    @model_validator(mode="after")
    def _ordered(self) -> "Autoscaling":
        if self.min_replicas > self.max_replicas:
            raise ValueError("min_replicas must not exceed max_replicas")
        return self


class Batching(_Strict):
    max_batch_size: int = Field(16, ge=1, description="Largest batch a member predicts at once.")
    batch_wait_timeout_s: float = Field(
        0.0, ge=0, description="How long a batch waits to fill after its first request. 0: a batch takes the requests "
        "already queued, which under load is many; any wait is paid by every request when load is low.")


class DeploymentSpec(_Strict):
    num_cpus: float = Field(0.25, gt=0, le=64, description="CPUs per replica (fractional).")
    num_gpus: float = Field(0.0, ge=0)
    num_replicas: int | None = Field(None, ge=1, description="Fixed replica count (else autoscaling).")
    max_ongoing_requests: int = Field(100, ge=1)
    autoscaling_config: Autoscaling | None = None
    batch: Batching | None = Field(None, description="Only for member deployments.")
    models_per_replica: int = Field(
        3, ge=1, le=1000,
        description="Models one replica keeps loaded (@serve.multiplexed, least recently used evicted): versions, and "
                    "in a member deployment each city's model of a per-city version (docs/serving.md: sizing it).",
    )

    @model_validator(mode="after")
    def _one_scaling_mode(self) -> "DeploymentSpec":
        if self.num_replicas is not None and self.autoscaling_config is not None:
            raise ValueError("give num_replicas or autoscaling_config, not both")
        return self

    @property
    def max_replicas(self) -> int:
        """The most replicas this deployment runs (fixed count, else the autoscaling ceiling)."""
        if self.autoscaling_config is not None:
            return self.autoscaling_config.max_replicas
        return self.num_replicas or 1

    def serve_options(self) -> dict[str, Any]:
        """Keyword arguments for ``Deployment.options``."""
        options: dict[str, Any] = {
            "ray_actor_options": {"num_cpus": self.num_cpus, **({"num_gpus": self.num_gpus} if self.num_gpus else {})},
            "max_ongoing_requests": self.max_ongoing_requests,
        }
        if self.autoscaling_config is not None:
            options["autoscaling_config"] = self.autoscaling_config.model_dump(exclude_none=True)
        else:
            options["num_replicas"] = self.num_replicas or 1
        return options


class DeploymentsConfig(_Strict):
    reload_poll_s: float = Field(0.5, gt=0, description="Registry production-token poll period.")
    feature_cache_size: int = Field(512, ge=0, description="Feature sets kept per Preprocessor replica.")
    history_cache_s: float = Field(300.0, ge=0, description="How long a Preprocessor keeps a city's history in memory.")
    fast_paths: FastPaths = Field(default_factory=FastPaths, description="Ray Serve's process-wide fast paths.")
    deployments: dict[str, DeploymentSpec]

    @model_validator(mode="after")
    def _all_named(self) -> "DeploymentsConfig":
        known = deployment_names()
        unknown = sorted(set(self.deployments) - set(known))
        if unknown:
            raise ValueError(f"unknown deployment '{unknown[0]}' (known: {', '.join(known)})")
        missing = [name for name in GRAPH_DEPLOYMENTS if name not in self.deployments]
        if missing:
            raise ValueError(f"deployment '{missing[0]}' is missing")
        return self

    def spec(self, name: str) -> DeploymentSpec:
        """A member registered at run time without an entry in the file runs with the defaults."""
        return self.deployments.get(name) or DeploymentSpec()

    def batching(self, name: str) -> Batching:
        return self.spec(name).batch or Batching()


def load_deployments_config(path: str | Path = DEFAULT_DEPLOYMENTS_FILE) -> DeploymentsConfig:
    """Read and validate the deployments file; problems become one line naming the file, line and key."""
    file = Path(path)
    file = file if file.is_absolute() else config_path(str(path))
    return load_yaml_model(file, DeploymentsConfig, error=ServeConfigError)


class ServeArgs(BaseModel):
    """Arguments of ``serving.app:build_app`` (``serve build``/``serve run`` pass them from YAML)."""

    model_config = ConfigDict(extra="forbid")

    deployments_file: str = Field(DEFAULT_DEPLOYMENTS_FILE, description="Deployment resources: a name in the configs folder, or an absolute path.")
    settings: dict[str, Any] = Field(
        default_factory=dict,
        description="PlatformSettings overrides for every replica (empty: each replica reads configs + EFP_* env).",
    )
