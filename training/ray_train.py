"""Ray Train plumbing every member fit shares: worker scaling, where runs keep their
checkpoints, and whether to ask for GPUs.

Nothing here calls ``ray.init``: inside a Tune trial or a Ray task the surrounding
cluster is used, and entrypoints (``ray_apps``) start or join one.
"""

from __future__ import annotations

import tempfile
import uuid
from pathlib import Path
from typing import TYPE_CHECKING

from training.scaling import ScalingSpec

if TYPE_CHECKING:
    from ray.train import RunConfig, ScalingConfig


def resolve_use_gpu(use_gpu: str) -> bool:
    """auto: a GPU if the cluster has one."""
    import ray

    if use_gpu == "auto":
        return ray.is_initialized() and ray.cluster_resources().get("GPU", 0) > 0
    return use_gpu == "true"


def scaling_config(scaling: ScalingSpec) -> "ScalingConfig":
    from ray.train import ScalingConfig

    use_gpu = resolve_use_gpu(scaling.use_gpu)
    resources = {"CPU": scaling.cpus_per_worker}
    if use_gpu:
        resources["GPU"] = 1
    return ScalingConfig(num_workers=scaling.workers, use_gpu=use_gpu, resources_per_worker=resources)


def run_config(name: str, scaling: ScalingSpec, run_dir: Path | None) -> tuple["RunConfig", Path]:
    """A uniquely named run under the storage path, and that run's folder."""
    from ray.train import CheckpointConfig, FailureConfig, RunConfig

    root = Path(scaling.storage_path or (run_dir or Path(tempfile.gettempdir()) / "efp_ray_results")).resolve()
    root.mkdir(parents=True, exist_ok=True)
    run_name = f"{name}-{uuid.uuid4().hex[:8]}"
    config = RunConfig(
        name=run_name, storage_path=str(root), failure_config=FailureConfig(max_failures=scaling.max_failures),
        checkpoint_config=CheckpointConfig(num_to_keep=2),
    )
    return config, root / run_name
