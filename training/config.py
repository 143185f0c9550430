"""Training configuration: one pydantic model loaded from ``training.yaml`` of the configs folder.

Which members exist, and each one's hyperparameters with their tuning ranges, come from
the member registry (``training.members.registry``), so this file names no member.
A partial YAML (what Tune writes for the best trial, or ``efp train --config FILE``) is
merged over the default file, so a user only writes what differs.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, SerializeAsAny, create_model, field_validator

from data.config_files import ConfigFileError, config_path, read_yaml_mapping, validate_mapping
from training.features.config import FeatureConfig
from training.members.registry import member_names, member_specs
from training.members.spec import MemberSpec
from training.scaling import ScalingSpec


class TrainingConfigError(ConfigFileError):
    """The training configuration is malformed; the message names the file (or option) and field."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SplitConfig(_Strict):
    validation_days: int = Field(30, ge=1, description="Days before the test window used for early stopping (rounds, epochs).")
    test_days: int = Field(30, ge=1, description="Last days: out-of-sample forecasts for ensemble weights, band calibration and the cross-validated metrics.")
    final_refit: bool = Field(True, description="After selection, refit every member on all data through --until with the selected rounds/epochs (what gets registered).")
    max_train_days: int | None = Field(None, ge=7, description="Use at most this many days before validation (None: all).")
    cv_folds: int = Field(3, ge=1, le=8, description="Rolling-origin folds whose out-of-fold forecasts fit the ensemble weights and band calibration: the test window, and before the validation window folds-1 more windows of test_days, each forecast by the members refitted with the selected rounds/epochs on everything up to validation_days before it (as stale as the test window's forecasts).")


def _members_model(specs: tuple[MemberSpec, ...]) -> type[BaseModel]:
    """``members:``: one key per registered member, each validated by that member's params model."""
    fields: dict[str, Any] = {
        spec.name: (spec.params, Field(default_factory=spec.params, description=spec.description)) for spec in specs
    }
    return create_model("MembersConfig", __config__=ConfigDict(extra="forbid"), **fields)


@lru_cache(maxsize=8)
def _members_model_of(specs: tuple[MemberSpec, ...]) -> type[BaseModel]:
    return _members_model(specs)


def members_config_model() -> type[BaseModel]:
    """The ``members:`` model for the registry as it is now (one class per set of members)."""
    return _members_model_of(member_specs())


#: ``members:`` for the built-in members (what configs/training.yaml and docs/configuration.md describe).
MembersConfig = members_config_model()


def _known_member(name: str) -> str:
    if name not in member_names():
        raise ValueError(f"unknown member '{name}' (known: {', '.join(member_names())})")
    return name


MemberName = Annotated[str, AfterValidator(_known_member)]


class TrainConfig(_Strict):
    """Everything a training run needs besides settings and the data."""

    models: list[MemberName] = Field(default_factory=lambda: list(member_names()), description="Members to train.")
    horizon_days: int = Field(1, ge=1, le=7, description="Forecast horizon in days (steps follow the series resolution).")
    global_model: bool = Field(True, description="One model over all cities (city as feature); False fits one per city.")
    seed: int = Field(7, description="Random seed of every member.")
    features: FeatureConfig = Field(default_factory=FeatureConfig)
    split: SplitConfig = Field(default_factory=SplitConfig)
    members: SerializeAsAny[MembersConfig] = Field(default_factory=lambda: members_config_model()())
    scaling: ScalingSpec = Field(default_factory=ScalingSpec)

    @field_validator("members", mode="wrap")
    @classmethod
    def _members_of_the_registry(cls, value: Any, handler: Any) -> BaseModel:
        # The model of the members registered now (a run-time member too), not only the built-in ones.
        model = members_config_model()
        if isinstance(value, BaseModel):
            value = value.model_dump()
        return model.model_validate(value if value is not None else {})

    def member_params(self, name: str) -> dict[str, Any]:
        """Member ``name``'s hyperparameters as a plain dict, every default filled."""
        return getattr(self.members, name).model_dump()


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
