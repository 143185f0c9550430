"""Model registry: versioned artifacts (folder or S3), index (PostgreSQL or JSON), per-city production."""

from training.registry.errors import CorruptArtifactError, RegistryError
from training.registry.models import CityModelId, ModelVersion, ProductionEvent, RollbackResult, Stage, VersionInfo
from training.registry.registry import (
    CheckResult,
    ModelRegistry,
    PromotionCheck,
    PromotionResult,
    new_version_id,
    open_registry,
)

__all__ = [
    "CheckResult",
    "CityModelId",
    "CorruptArtifactError",
    "ModelRegistry",
    "ModelVersion",
    "ProductionEvent",
    "PromotionCheck",
    "PromotionResult",
    "RegistryError",
    "RollbackResult",
    "Stage",
    "VersionInfo",
    "new_version_id",
    "open_registry",
]
