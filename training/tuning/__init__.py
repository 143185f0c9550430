"""Ray Tune sweeps of one ensemble member (ASHA + Optuna), writing the best config for `efp train`."""

from training.tuning.runner import TuneError, TuneResult, run_tune, write_best_config
from training.tuning.space import TuneSpace, TuneSpaceError, load_space

__all__ = ["TuneError", "TuneResult", "TuneSpace", "TuneSpaceError", "load_space", "run_tune", "write_best_config"]
