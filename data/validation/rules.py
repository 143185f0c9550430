"""Validation thresholds, from ``configs/validation.yaml``."""

from __future__ import annotations

from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from data.errors import PlatformError, describe_validation_error
from data.settings import REPO_ROOT

RULES_FILE = REPO_ROOT / "configs" / "validation.yaml"


class ValidationRules(BaseModel):
    """What counts as implausible, a spike, a flatline, a mergeable duplicate, a fillable gap."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    max_load_factor: float = Field(2.5, gt=1, description="Load above this x the city's peak_mw is rejected.")
    spike_threshold: float = Field(0.35, gt=0, description="Relative deviation from the neighbours' median.")
    flatline_min_minutes: int = Field(120, gt=0, description="Repeated value this long is a stuck meter.")
    duplicate_tolerance: float = Field(0.02, ge=0, description="Relative spread of duplicates still merged.")
    max_gap_fill_minutes: int = Field(120, ge=0, description="Longest gap filled by interpolation.")
    resolutions_minutes: tuple[int, ...] = Field((15, 30, 60), description="Resolutions kept as they are.")


def load_rules(path: Path = RULES_FILE) -> ValidationRules:
    try:
        return ValidationRules.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")) or {})
    except ValidationError as error:
        raise PlatformError(f"{path}: {describe_validation_error(error, noun='key', default='rules')}") from None
