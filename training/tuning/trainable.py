"""The function trainable each Tune trial runs: the member's Ray Train fit, as Ray's
Train-in-Tune guide has it.

The trial's own process only drives the fit (it reserves ``TRIAL_CPUS``); the fit's Train
workers reserve theirs in a placement group of their own, so a trial never holds CPUs its
workers wait for. Progress reaches Tune as structured results: the Train run of a trial
carries ``TuneReportCallback`` (``training.ray_train.run_config``), which turns every
``ray.train.report`` of the workers (one per epoch, or per ``report_every`` boosting rounds)
into one Tune result with ``val_loss``, and ASHA stops a poor trial on them.
"""

from __future__ import annotations

from typing import Any

from training.data_prep import TrainingData
from training.fitting import fit_member
from training.ray_train import RayStorage
from training.scaling import ScalingSpec

METRIC = "val_loss"
#: What a trial's driver process reserves: it only waits on its Train run.
TRIAL_CPUS = 0.01


def run_trial(searched: dict[str, Any], *, data: TrainingData, model: str, base_params: dict[str, Any], seed: int,
              scaling: ScalingSpec, storage: RayStorage) -> None:
    fit_member(model, {**base_params, **searched}, data, scaling=scaling, storage=storage, seed=seed,
               log=lambda line: None, in_tune_trial=True)
