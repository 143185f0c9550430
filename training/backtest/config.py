"""Backtest settings, read from ``configs/backtest.yaml`` (kept out of the code, tunable per site)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from data.errors import PlatformError, describe_validation_error
from data.settings import REPO_ROOT

BACKTEST_CONFIG = REPO_ROOT / "configs" / "backtest.yaml"


class BacktestConfigError(PlatformError):
    exit_code = 2


class PromotionConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    metric: Literal["mape", "smape", "mase", "rmse", "pinball"] = Field("mape", description="Ensemble metric to beat.")
    days: int = Field(14, ge=1, description="Comparison window length in days.")
    min_days: int = Field(3, ge=1, description="Fewer comparable days refuse the promotion.")


class BacktestConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    insample_days: int = Field(28, ge=2, description="History before the window that scales MASE.")
    ray_min_days: int = Field(45, ge=1, description="Run days as Ray tasks from this many days on.")
    ray_task_cpus: float = Field(0.5, gt=0, description="CPUs per backtest Ray task.")
    exclude_flags: list[Literal["load_shedding", "imputed", "outlier"]] = Field(
        ["load_shedding", "imputed"], description="Actuals with these flags are left out of the metrics."
    )
    promotion: PromotionConfig = Field(default_factory=PromotionConfig)


def load_backtest_config(path: Path = BACKTEST_CONFIG) -> BacktestConfig:
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) if path.exists() else {}
        return BacktestConfig.model_validate(raw or {})
    except yaml.YAMLError:
        raise BacktestConfigError(f"{path}: not valid YAML") from None
    except ValidationError as error:
        raise BacktestConfigError(f"{path}: {describe_validation_error(error, default='config')}") from None
