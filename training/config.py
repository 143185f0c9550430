"""Training configuration: one pydantic model loaded from ``training.yaml`` of the configs folder.

Hyperparameters declare their tuning range beside them (``Annotated[..., TuneRange(...)]``)
so the Tune engineer reads the search space off the model instead of writing it twice.
A partial YAML (what Tune writes for the best trial, or ``efp train --config FILE``) is
merged over the default file, so a user only writes what differs.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from data.config_files import ConfigFileError, config_path, read_yaml_mapping, validate_mapping


class TrainingConfigError(ConfigFileError):
    """The training configuration is malformed; the message names the file (or option) and field."""


@dataclass(frozen=True)
class TuneRange:
    """Search range of a hyperparameter: numeric [low, high] (log scale optional) or a choice list."""

    low: float | None = None
    high: float | None = None
    log: bool = False
    choices: tuple[Any, ...] | None = None


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class FeatureConfig(_Strict):
    history_days: int = Field(2, ge=1, le=14, description="Days of load history the sequence members read before the issue time.")
    lag_days: list[int] = Field([1, 2, 7], description="Same-block load lags in days; lags shorter than the horizon are dropped (no leakage).")
    origins_per_day: int = Field(4, ge=1, le=96, description="Training issue times per local day: 00:00 and every (steps per day // N) steps after, so intraday forecasts are learnt too.")
    festival_keywords: list[str] = Field(
        ["diwali", "deepavali", "holi", "dussehra", "vijaya", "pongal", "onam", "eid", "id-ul", "christmas", "ganesh", "durga", "navratri", "new year"],
        description="Holiday names (lower-case substrings) whose surroundings count as a festival window.",
    )
    festival_window_days: int = Field(3, ge=0, le=15, description="Days either side of a festival that form its window.")
    holiday_clip_days: int = Field(30, ge=1, description="Days-to/from-holiday features are clipped here.")
    cooling_base_c: float = Field(24.0, description="Base temperature of cooling degree hours.")
    heating_base_c: float = Field(18.0, description="Base temperature of heating degree hours.")


class SplitConfig(_Strict):
    validation_days: int = Field(30, ge=1, description="Days before the test window used for early stopping and ensemble weights.")
    test_days: int = Field(30, ge=1, description="Last days held out for the test metrics.")
    max_train_days: int | None = Field(None, ge=7, description="Use at most this many days before validation (None: all).")


class XGBoostParams(_Strict):
    num_boost_round: Annotated[int, TuneRange(50, 1500, log=True)] = Field(400, description="Boosting rounds (early stopping on validation may stop sooner).")
    max_depth: Annotated[int, TuneRange(3, 10)] = Field(7, description="Tree depth.")
    eta: Annotated[float, TuneRange(0.01, 0.3, log=True)] = Field(0.08, description="Learning rate.")
    subsample: Annotated[float, TuneRange(0.5, 1.0)] = Field(0.8, description="Row subsample per tree.")
    colsample_bytree: Annotated[float, TuneRange(0.4, 1.0)] = Field(0.8, description="Feature subsample per tree.")
    min_child_weight: Annotated[float, TuneRange(1.0, 50.0, log=True)] = Field(5.0, description="Minimum hessian per leaf.")
    early_stopping_rounds: int = Field(40, ge=1, description="Stop when validation pinball has not improved this many rounds.")
    report_every: int = Field(50, ge=1, description="Report progress every N rounds (a per-round Ray report costs ~2 s a round).")


class TorchParams(_Strict):
    epochs: Annotated[int, TuneRange(2, 60)] = Field(20, description="Maximum epochs (early stopping on validation).")
    batch_size: Annotated[int, TuneRange(choices=(32, 64, 128, 256))] = Field(64, description="Samples per batch per worker.")
    lr: Annotated[float, TuneRange(1e-4, 1e-2, log=True)] = Field(2e-3, description="AdamW learning rate.")
    weight_decay: Annotated[float, TuneRange(1e-6, 1e-2, log=True)] = Field(1e-4, description="AdamW weight decay.")
    dropout: Annotated[float, TuneRange(0.0, 0.4)] = Field(0.1, description="Dropout.")
    patience: int = Field(4, ge=1, description="Epochs without validation improvement before stopping.")
    city_embedding: int = Field(4, ge=1, le=32, description="Size of the city embedding of the global model.")


class LSTMParams(TorchParams):
    hidden: Annotated[int, TuneRange(choices=(16, 32, 64, 128))] = Field(48, description="LSTM hidden size.")
    layers: Annotated[int, TuneRange(1, 3)] = Field(1, description="Stacked LSTM layers.")


class TransformerParams(TorchParams):
    d_model: Annotated[int, TuneRange(choices=(16, 32, 64))] = Field(32, description="Token width.")
    heads: Annotated[int, TuneRange(choices=(2, 4))] = Field(4, description="Attention heads (must divide d_model).")
    layers: Annotated[int, TuneRange(1, 4)] = Field(2, description="Encoder layers.")
    ff: Annotated[int, TuneRange(choices=(32, 64, 128))] = Field(64, description="Feed-forward width.")


class MembersConfig(_Strict):
    xgboost: XGBoostParams = Field(default_factory=XGBoostParams)
    lstm: LSTMParams = Field(default_factory=LSTMParams)
    transformer: TransformerParams = Field(default_factory=TransformerParams)


class ScalingSpec(_Strict):
    workers: int = Field(2, ge=1, description="Ray Train workers per member fit.")
    use_gpu: Literal["auto", "true", "false"] = Field("auto", description="auto: GPU when the cluster has one.")
    cpus_per_worker: float = Field(1.0, gt=0, description="CPUs each Train worker reserves (fractional inside Tune trials).")
    max_failures: int = Field(2, ge=0, description="Worker-group restarts from the last checkpoint before a fit fails.")
    storage_path: str | None = Field(None, description="Where Ray Train keeps checkpoints (None: <data_dir>/ray_results).")
    test_fail_at_epoch: int | None = Field(None, description="TEST ONLY: the first attempt of a torch fit crashes at this epoch, to prove resume.")


class TrainConfig(_Strict):
    """Everything a training run needs besides settings and the data."""

    models: list[Literal["xgboost", "lstm", "transformer"]] = Field(["xgboost", "lstm", "transformer"], description="Members to train.")
    horizon_days: int = Field(1, ge=1, le=7, description="Forecast horizon in days (steps follow the series resolution).")
    global_model: bool = Field(True, description="One model over all cities (city as feature); False fits one per city.")
    seed: int = Field(7, description="Random seed of every member.")
    features: FeatureConfig = Field(default_factory=FeatureConfig)
    split: SplitConfig = Field(default_factory=SplitConfig)
    members: MembersConfig = Field(default_factory=MembersConfig)
    scaling: ScalingSpec = Field(default_factory=ScalingSpec)
    ensemble_horizon_bands: int = Field(1, ge=1, le=8, description="Separate ensemble weights per band of horizon steps (1: one set per city).")


def _merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def parse_config(raw: dict[str, Any], source: str = "config") -> TrainConfig:
    return validate_mapping(raw, TrainConfig, source=source, noun="field", default="config", error=TrainingConfigError)


def load_train_config(path: Path | None = None, *, base: Path | None = None) -> TrainConfig:
    """The default config (``base``, else training.yaml of the configs folder) with ``path`` merged over it."""
    base_path = Path(base) if base is not None else config_path("training.yaml")
    raw = read_yaml_mapping(base_path, error=TrainingConfigError)
    source = str(base_path)
    if path is not None and Path(path).resolve() != base_path.resolve():
        raw = _merge(raw, read_yaml_mapping(Path(path), error=TrainingConfigError))
        source = str(path)
    return parse_config(raw, source)


def tune_ranges(model: type[BaseModel]) -> dict[str, TuneRange]:
    """The declared search range of every tunable field of a params model."""
    ranges: dict[str, TuneRange] = {}
    for name, info in model.model_fields.items():
        for meta in info.metadata:
            if isinstance(meta, TuneRange):
                ranges[name] = meta
    return ranges


PARAMS_MODELS: dict[str, type[BaseModel]] = {"xgboost": XGBoostParams, "lstm": LSTMParams, "transformer": TransformerParams}
