"""Backtest settings, read from ``backtest.yaml`` of the configs folder (kept out of the code, tunable per site)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from data.config_files import ConfigFileError, config_path, load_yaml_model


class BacktestConfigError(ConfigFileError):
    """backtest.yaml is missing or malformed; the message names the file and field."""


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


def load_backtest_config(path: Path | None = None) -> BacktestConfig:
    """``path``, else backtest.yaml of the configs folder."""
    return load_yaml_model(path or config_path("backtest.yaml"), BacktestConfig, noun="field", default="config",
                           error=BacktestConfigError)
