"""How a member fit is spread over Ray Train workers (``scaling:`` in the training YAML)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class ScalingSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    workers: int = Field(2, ge=1, description="Ray Train workers per member fit.")
    use_gpu: Literal["auto", "true", "false"] = Field("auto", description="auto: GPU when the cluster has one.")
    cpus_per_worker: float = Field(1.0, gt=0, description="CPUs each Train worker reserves (Tune trials: the search space says).")
    max_failures: int = Field(2, ge=0, description="Worker-group restarts from the last checkpoint before a fit fails.")
