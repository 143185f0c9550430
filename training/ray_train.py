"""Ray Train plumbing every member fit shares: worker scaling, where runs keep their
checkpoints (and Tune its results), and whether to ask for GPUs.

Storage is a folder or an S3 prefix (``ray_storage_uri``): a run on several nodes needs
the S3 one, since every worker uploads its checkpoints there and a restarted worker group
(or a Tune trial placed elsewhere) reads them back. S3 goes through pyarrow's
``S3FileSystem`` with the configured endpoint (MinIO, moto) and the default AWS credential
chain, which each process resolves for itself: credentials are never pickled into the
experiment state that Tune writes to the bucket.

Nothing here calls ``ray.init``: inside a Tune trial or a Ray task the surrounding
cluster is used, and entrypoints (``ray_apps``) start or join one.
"""

from __future__ import annotations

import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from data.config_files import resolve_data_path
from data.errors import PlatformError
from data.settings import PlatformSettings
from training.scaling import ScalingSpec

if TYPE_CHECKING:
    from ray.train import RunConfig, ScalingConfig

    from training.members.spec import FitContext


class RayStorageError(PlatformError):
    exit_code = 2


@dataclass(frozen=True)
class RayStorage:
    """Where Ray Train and Tune write: ``path`` as ``RunConfig(storage_path=...)`` takes it (the
    folder, or ``bucket/prefix`` beside an S3 ``filesystem``). Built once in the driver and handed
    to Tune trials, so every process writes to the same place."""

    uri: str  # the folder or s3://bucket/prefix, for messages
    path: str
    filesystem: Any = None  # pyarrow.fs.S3FileSystem for s3://, None for a folder

    @property
    def is_s3(self) -> bool:
        return self.filesystem is not None

    def child(self, name: str) -> "RayStorage":
        """The storage one level down (``<uri>/<name>``)."""
        return RayStorage(f"{self.uri.rstrip('/')}/{name}", f"{self.path.rstrip('/')}/{name}", self.filesystem)

    def write_text(self, name: str, text: str) -> None:
        """``text`` as the file ``<uri>/<name>``."""
        from pyarrow import fs

        filesystem = self.filesystem or fs.LocalFileSystem()
        filesystem.create_dir(self.path, recursive=True)
        with filesystem.open_output_stream(f"{self.path.rstrip('/')}/{name}") as stream:
            stream.write(text.encode("utf-8"))

    def run_kwargs(self) -> dict[str, Any]:
        """``storage_path`` and ``storage_filesystem`` of a Train or Tune ``RunConfig``."""
        return {"storage_path": self.path, "storage_filesystem": self.filesystem}


def s3_filesystem(endpoint_url: str | None) -> Any:
    """pyarrow's S3 client for ``endpoint_url`` (None: AWS); credentials from the default chain."""
    from pyarrow import fs

    if not endpoint_url:
        return fs.S3FileSystem()
    parts = urlsplit(endpoint_url if "://" in endpoint_url else f"https://{endpoint_url}")
    return fs.S3FileSystem(endpoint_override=parts.netloc, scheme=parts.scheme)


def storage_at(uri: str, endpoint_url: str | None = None) -> RayStorage:
    """``uri`` as Ray storage: s3://bucket/prefix (the bucket must exist) or a folder (created)."""
    if not uri.startswith("s3://"):
        folder = resolve_data_path(Path(uri)).resolve()
        folder.mkdir(parents=True, exist_ok=True)
        return RayStorage(str(folder), str(folder))
    from pyarrow import fs

    path = uri.removeprefix("s3://").strip("/")
    bucket = path.split("/", 1)[0]
    filesystem = s3_filesystem(endpoint_url)
    try:
        found = filesystem.get_file_info(bucket).type
    except OSError as error:
        raise RayStorageError(f"ray_storage_uri '{uri}': S3 is not reachable: {str(error).splitlines()[0]}") from None
    if found == fs.FileType.NotFound:
        raise RayStorageError(f"ray_storage_uri '{uri}': bucket '{bucket}' does not exist")
    return RayStorage(uri, path, filesystem)


def ray_storage(settings: PlatformSettings) -> RayStorage:
    """The configured storage (``ray_storage_uri``), else ``<data_dir>/ray_results``."""
    return storage_at(settings.ray_storage_uri or str(settings.data_dir / "ray_results"), settings.s3_endpoint_url)


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


def run_config(name: str, ctx: "FitContext") -> "RunConfig":
    """The Train run of one fit under the context's storage (None: a temporary folder).

    Outside Tune the run gets a unique name. Inside a Tune trial (``ctx.in_tune_trial``) it is
    named after the trial and kept beside the sweep's results, so a restarted trial resumes it
    (Ray's Train-in-Tune guide), and ``TuneReportCallback`` hands every ``ray.train.report`` to
    Tune as one structured result, which ASHA reads to stop a poor trial early.
    """
    from ray.train import CheckpointConfig, FailureConfig, RunConfig

    storage = ctx.storage or storage_at(str(Path(tempfile.gettempdir()) / "efp_ray_results"))
    callbacks = []
    if ctx.in_tune_trial:
        from ray import tune
        from ray.tune.integration.ray_train import TuneReportCallback

        trial = tune.get_context()
        storage = storage.child(trial.get_experiment_name())
        run_name = f"train-{trial.get_trial_id()}"
        callbacks.append(TuneReportCallback())
    else:
        run_name = f"{name}-{uuid.uuid4().hex[:8]}"
    return RunConfig(
        name=run_name, failure_config=FailureConfig(max_failures=ctx.scaling.max_failures),
        checkpoint_config=CheckpointConfig(num_to_keep=2), callbacks=callbacks, **storage.run_kwargs(),
    )
