"""The function trainable each Tune trial runs: the training engineer's ``fit_member`` in-process.

A trial is the unit Ray schedules, so the fit inside it runs in the trial's own process
(``distributed=False``) on the CPUs the trial reserved; a Ray Train fit inside every trial
would pay its worker-group start (about 17 s here) per trial. Progress reaches Tune
through ``fit_member``'s ``log`` lines: each "validation pinball X" (one per epoch, or per
``report_every`` boosting rounds) becomes one ``tune.report``, so ASHA can stop a poor
trial early. The last report also carries the fitted member's validation pinball.
"""

from __future__ import annotations

import math
import re
from typing import Any

from training.scaling import ScalingSpec
from training.data_prep import TrainingData
from training.fitting import fit_member

METRIC = "val_loss"
_PINBALL = re.compile(r"validation pinball ([0-9.eE+-]+)")


def run_trial(
    searched: dict[str, Any], *, data: TrainingData, model: str, base_params: dict[str, Any], seed: int, cpus: float
) -> None:
    import torch
    from ray import tune

    torch.set_num_threads(max(1, math.floor(cpus)))
    params = {**base_params, **searched}
    seen: list[float] = []

    def on_log(line: str) -> None:
        match = _PINBALL.search(line)
        if match:
            seen.append(float(match.group(1)))
            tune.report({METRIC: seen[-1]})

    outcome = fit_member(
        model, params, data, scaling=ScalingSpec(workers=1, use_gpu="false"), distributed=False, seed=seed, log=on_log
    )
    # Early stopping keeps the best epoch/round, so the trial's result is its best loss.
    final = min(seen) if seen else outcome.validation_pinball
    tune.report({METRIC: final, "validation_pinball": outcome.validation_pinball, "reports": len(seen)})
