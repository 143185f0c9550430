"""What the registry records about a model version (pydantic, the registry's boundary)."""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

Stage = Literal["candidate", "production", "archived"]


class VersionInfo(BaseModel):
    """What the trainer knows about a bundle when it registers it.

    ``train_end`` is the first instant *not* used for fitting (train and validation
    windows both count as used); data at or after it is unseen by this version, which is
    what makes a backtest there fair (see ``training.backtest.promotion``).
    """

    model_config = ConfigDict(extra="forbid")

    cities: list[str] = Field(min_length=1, description="City codes the version was trained on and can forecast.")
    resolution_minutes: int = Field(gt=0, description="Step of the series the version forecasts.")
    train_start: datetime = Field(description="First instant of the training data (UTC).")
    train_end: datetime = Field(description="First instant not used for fitting (UTC, exclusive).")
    data_end: datetime | None = Field(None, description="End of all data read, test split included (UTC, exclusive).")
    members: list[str] = Field(default_factory=list, description="Ensemble members in the bundle.")
    metrics: dict[str, dict[str, float | None]] = Field(
        default_factory=dict,
        description="Evaluation at training time: {member|ensemble|baseline: {metric: value}}; null when not computable.",
    )
    config: dict[str, Any] = Field(default_factory=dict, description="The training configuration that produced it.")
    git_commit: str | None = Field(None, description="Commit of the code that trained it; filled in when None.")
    feature_schema_hash: str = Field(description="Hash of the preprocessor's feature list and encodings.")
    notes: str = Field("", description="Free text for people.")

    @field_validator("metrics")
    @classmethod
    def _nan_to_null(cls, metrics: dict[str, dict[str, float | None]]) -> dict[str, dict[str, float | None]]:
        # NaN is neither JSON nor jsonb: an undefined metric (e.g. MASE without history) is stored as null.
        return {
            name: {k: (None if v is None or math.isnan(v) else v) for k, v in values.items()}
            for name, values in metrics.items()
        }

    @field_validator("cities")
    @classmethod
    def _upper_unique(cls, cities: list[str]) -> list[str]:
        return sorted({city.upper() for city in cities})


class ModelVersion(VersionInfo):
    """A registered version: the trainer's info plus what the registry adds."""

    version: str = Field(description="Id sortable by registration time, e.g. 20261126T153012Z-1a2b3c.")
    created_at: datetime
    stage: Stage = "candidate"
    production_cities: list[str] = Field(default_factory=list, description="Cities it is production for now.")
    promoted_by: str | None = Field(None, description="Who made its latest promotion still in force (None: never promoted).")
    artifact_uri: str = Field(description="Folder or s3:// prefix holding the files.")
    manifest_sha256: str = Field(description="SHA-256 of the manifest, so the manifest itself is checked too.")
    city_models: list[str] = Field(
        default_factory=list,
        description="Per-city models (global_model: false), one id <version>/<member>/<CITY> each: fetched and served one at a time.",
    )


class ProductionEvent(BaseModel):
    """One promotion of a version for one city; a rollback marks the latest one rolled back."""

    model_config = ConfigDict(extra="forbid")

    id: int
    city: str
    version: str
    promoted_at: datetime
    forced: bool = False
    rolled_back_at: datetime | None = None
    promoted_by: str | None = Field(None, description="The admin principal's id (HTTP) or the CLI user (--by, $USER).")


class RollbackResult(BaseModel):
    city: str
    from_version: str
    to_version: str


class CityModelId(BaseModel):
    """One city's model of one member inside a version trained per city (``global_model: false``).

    Its string form ``<version>/<member>/<CITY>`` is the ``multiplexed_model_id`` Serve routes a
    city's requests by, so one replica answers a city from the one model it loaded for it.
    """

    model_config = ConfigDict(frozen=True)

    version: str = Field(min_length=1, pattern=r"^[^/]+$")
    member: str = Field(min_length=1, pattern=r"^[^/]+$")
    city: str = Field(min_length=1, pattern=r"^[^/]+$")

    def __str__(self) -> str:
        return f"{self.version}/{self.member}/{self.city}"

    @property
    def folder(self) -> str:
        """Where the model's files lie inside the version (``training.bundle``'s layout)."""
        return f"members/{self.member}/{self.city}"

    @classmethod
    def parse(cls, text: str) -> "CityModelId | None":
        """The id ``text`` names, None when it is a plain version id (a model over every city)."""
        parts = text.split("/")
        if len(parts) != 3:
            return None
        return cls(version=parts[0], member=parts[1], city=parts[2].upper())
