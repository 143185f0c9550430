"""Validation thresholds, from ``validation.yaml`` of the configs folder."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from data.config_files import config_path, load_yaml_model


class ValidationRules(BaseModel):
    """What counts as implausible, a spike, a flatline, a mergeable duplicate, a fillable gap."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    max_load_factor: float = Field(2.5, gt=1, description="Load above this x the city's peak_mw is rejected.")
    spike_threshold: float = Field(0.35, gt=0, description="Relative deviation from the neighbours' median.")
    flatline_min_minutes: int = Field(120, gt=0, description="Repeated value this long is a stuck meter.")
    duplicate_tolerance: float = Field(0.02, ge=0, description="Relative spread of duplicates still merged.")
    max_gap_fill_minutes: int = Field(120, ge=0, description="Longest gap filled by interpolation.")
    resolutions_minutes: tuple[int, ...] = Field((15, 30, 60), description="Resolutions kept as they are.")


def load_rules(path: Path | None = None) -> ValidationRules:
    """``path``, else validation.yaml of the configs folder."""
    return load_yaml_model(path or config_path("validation.yaml"), ValidationRules, default="rules")
