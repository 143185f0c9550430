"""The application builder: ``serving.app:build_app`` is the import path for ``serve run``,
``serve build`` (-> configs/serve/app.yaml) and ``serve deploy``/a RayService.

Resources per deployment come from configs/serve/deployments.yaml, validated first
(serving/config.py), so a misspelt autoscaling key fails here instead of being ignored.
One member deployment is bound per member of the registry (``training.members.registry``).
"""

from __future__ import annotations

from typing import Any

from ray.serve import Application

from serving.config import PRODUCTION_DEPLOYMENTS_FILE, ServeArgs, load_deployments_config, member_deployments
from serving.deployments import Ensemble, Ingress, Member, Preprocessor

APP_NAME = "efp"


def build_app(args: ServeArgs) -> Application:
    config = load_deployments_config(args.deployments_file)
    pre = config.spec("Preprocessor")
    preprocessor = Preprocessor.options(name="Preprocessor", **pre.serve_options()).bind(
        args.settings, config.feature_cache_size, config.history_cache_s, pre.models_per_replica
    )
    members = {}
    for deployment, member in member_deployments().items():
        batching, spec = config.batching(deployment), config.spec(deployment)
        members[member] = Member.options(name=deployment, **spec.serve_options()).bind(
            member, args.settings, batching.max_batch_size, batching.batch_wait_timeout_s, spec.models_per_replica
        )
    combiner = config.spec("Ensemble")
    ensemble = Ensemble.options(name="Ensemble", **combiner.serve_options()).bind(args.settings, combiner.models_per_replica)
    ingress = config.spec("Ingress")
    return Ingress.options(name="Ingress", **ingress.serve_options()).bind(
        preprocessor, members, ensemble, ingress_settings(args.settings, ingress.max_replicas), config.reload_poll_s
    )


def ingress_settings(overrides: dict[str, Any], replicas: int) -> dict[str, Any]:
    """The Ingress replicas' settings: ``overrides`` plus how many of them share the rate limits, so each
    one's fallback bucket (Redis unavailable) allows its share of the cluster-wide rate, not all of it."""
    serve = {**overrides.get("serve", {}), "ingress_replicas": replicas}
    return {**overrides, "serve": serve}


#: The default application, for ``serve build serving.app:app`` (Ray 2.60's ``serve build``
#: takes an Application, not a builder; ``serve run serving.app:build_app key=value`` takes the builder).
app = build_app(ServeArgs())
#: Production's (two replicas at least on the request path): ``serve build serving.app:production_app``.
production_app = build_app(ServeArgs(deployments_file=PRODUCTION_DEPLOYMENTS_FILE))
