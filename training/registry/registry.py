"""The model registry: the only hand-over between training and serving.

A version is a folder of artifacts plus a record (``ModelVersion``). Files go to a local
folder or S3 (``artifacts``), the record and production history to PostgreSQL or a JSON
file (``index``), a SHA-256 manifest guards every file (``manifest``). Production is per
city: promoting a version makes it production for each city it covers; a rollback
restores each city's previous production.
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
import subprocess  # nosec B404: runs only `git rev-parse HEAD`, a fixed argument list
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Protocol

from pydantic import BaseModel

from data.errors import ConflictError, NotFoundError
from data.settings import REPO_ROOT, PlatformSettings
from data.stores.audit import record_action
from training.registry.artifacts import ArtifactStore, open_artifacts
from training.registry.index import JsonIndex, RegistryIndex, current_production
from training.registry.index_pg import PostgresIndex
from training.registry.manifest import build_manifest
from training.registry.models import CityModelId, ModelVersion, ProductionEvent, RollbackResult, VersionInfo


class CheckResult(BaseModel):
    """Outcome of comparing a candidate with a city's production version."""

    city: str
    passed: bool
    detail: str
    candidate: dict[str, float] = {}
    production: dict[str, float] = {}


class PromotionCheck(Protocol):
    def __call__(self, candidate: ModelVersion, production: ModelVersion, city: str) -> CheckResult: ...


class PromotionResult(BaseModel):
    version: str
    cities: list[str]
    forced: bool
    checks: list[CheckResult]
    promoted_by: str | None = None


VERSION_PATTERN = re.compile(r"\d{8}T\d{6}Z-[0-9a-f]{6}")


def new_version_id(now: datetime | None = None) -> str:
    """Sortable by registration time (UTC, second precision), unique by a random suffix."""
    now = now or datetime.now(timezone.utc)
    return f"{now:%Y%m%dT%H%M%SZ}-{secrets.token_hex(3)}"


def city_model_ids(bundle_dir: Path, version: str) -> list[str]:
    """The per-city models a bundle folder holds (its ``bundle.json`` members of kind ``per_city``)."""
    manifest = Path(bundle_dir) / "bundle.json"
    if not manifest.is_file():
        return []
    members = json.loads(manifest.read_text()).get("members", {})
    return [str(CityModelId(version=version, member=name, city=city))
            for name, meta in sorted(members.items()) if meta.get("kind") == "per_city" for city in meta["cities"]]


def current_git_commit() -> str:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO_ROOT, capture_output=True, text=True, check=True)  # nosec B603 B607: fixed argv, no shell; git from PATH like any tool
        return out.stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


class ModelRegistry:
    def __init__(self, settings: PlatformSettings, artifacts: ArtifactStore, index: RegistryIndex) -> None:
        self.settings, self.artifacts, self.index = settings, artifacts, index

    # -- writing ---------------------------------------------------------------------
    def register(self, bundle_dir: Path, info: VersionInfo, *, version: str | None = None) -> ModelVersion:
        """Store the bundle's files with a SHA-256 manifest and index it as a candidate.

        ``version`` lets a trainer that writes the id into the bundle itself choose it first
        (``new_version_id()``); otherwise one is made here.
        """
        bundle_dir = Path(bundle_dir)
        if not bundle_dir.is_dir() or not any(p.is_file() for p in bundle_dir.rglob("*")):
            raise NotFoundError(f"bundle folder {bundle_dir} does not exist or holds no files")
        if version is not None and not VERSION_PATTERN.fullmatch(version):
            raise ConflictError(f"model version id {version!r} is not of the form 20261126T153012Z-1a2b3c")
        version = version or new_version_id()
        if self.index.get(version) is not None:
            raise ConflictError(f"model version {version} is already registered")
        manifest = build_manifest(bundle_dir, version)
        uri = self.artifacts.put(version, bundle_dir, manifest)
        record: dict[str, Any] = info.model_dump(mode="json")
        record.update(
            version=version,
            created_at=datetime.now(timezone.utc).isoformat(),
            git_commit=info.git_commit or current_git_commit(),
            artifact_uri=uri,
            manifest_sha256=hashlib.sha256(manifest).hexdigest(),
            city_models=city_model_ids(bundle_dir, version),
        )
        self.index.add(record)
        return self.get(version)

    def promote(self, version: str, *, force: bool = False, check: PromotionCheck | None = None,
                by: str | None = None) -> PromotionResult:
        """Make ``version`` production for each of its cities, recording ``by`` (who asked) with it.

        Unless ``force``, every city that already has a different production version must
        pass ``check``, the promotion policy the caller chooses (the platform's is the
        backtest comparison of ``training.backtest.promotion.BacktestCheck``); one failure
        refuses the whole promotion with a ConflictError saying why. Without a check, only
        a first promotion (or a forced one) is possible.
        """
        candidate = self.get(version)
        self.fetch(version)  # a damaged version is never promoted
        current = current_production(self.index.events())
        cities = [city for city in candidate.cities if current.get(city) != version]
        if not cities:
            raise ConflictError(f"model version {version} is already production for {', '.join(candidate.cities)}")
        checks: list[CheckResult] = []
        if not force:
            contested = [city for city in cities if city in current]
            if contested and check is None:
                raise ValueError(f"promoting {version} over production for {', '.join(contested)} needs a promotion check")
            for city in contested:
                result = check(candidate, self.get(current[city]), city)
                checks.append(result)
                if not result.passed:
                    raise ConflictError(
                        f"model version {version} does not beat production {current[city]} for {city}: "
                        f"{result.detail} (use --force to promote anyway)"
                    )
        self.index.promote(version, cities, forced=force, by=by)
        record_action(self.settings, "model.promote", version, cities=cities, forced=force)
        return PromotionResult(version=version, cities=cities, forced=force, checks=checks, promoted_by=by)

    def rollback(self, city: str | None = None) -> list[RollbackResult]:
        """Restore the previous production of ``city`` (or of every city that has one)."""
        events = self.index.events()
        current = current_production(events)
        if city is not None:
            city = city.upper()
            if city not in current:
                raise NotFoundError(f"city {city} has no production model version")
            targets = [city]
        else:
            active = [e for e in events if e.rolled_back_at is None]
            targets = sorted({e.city for e in active if sum(1 for a in active if a.city == e.city) >= 2})
            if not targets:
                raise ConflictError("no city has a previous production version to roll back to")
        results = []
        for target in targets:
            from_version, to_version = self.index.roll_back(target)
            results.append(RollbackResult(city=target, from_version=from_version, to_version=to_version))
            record_action(self.settings, "model.rollback", target, from_version=from_version, to_version=to_version)
        return results

    # -- reading ---------------------------------------------------------------------
    @staticmethod
    def _with_stage(record: dict[str, Any], events: list[ProductionEvent]) -> ModelVersion:
        current = current_production(events)
        cities = sorted(city for city, version in current.items() if version == record["version"])
        promoted = [e for e in events if e.version == record["version"]]
        stage = "production" if cities else ("archived" if promoted else "candidate")
        in_force = [e for e in promoted if e.rolled_back_at is None and e.city in cities]
        promoted_by = max(in_force, key=lambda e: e.id).promoted_by if in_force else None
        return ModelVersion.model_validate({**record, "stage": stage, "production_cities": cities, "promoted_by": promoted_by})

    def get(self, version: str) -> ModelVersion:
        record = self.index.get(version)
        if record is None:
            raise NotFoundError(f"model version {version} is not registered")
        return self._with_stage(record, self.index.events())

    def list_versions(self, city: str | None = None) -> list[ModelVersion]:
        """Versions oldest first (by registration time), optionally only those covering ``city``."""
        events = self.index.events()
        versions = [self._with_stage(r, events) for r in self.index.all()]
        return [v for v in versions if city is None or city.upper() in v.cities]

    def fetch(self, version: str) -> Path:
        """A local folder with the version's files, verified against its manifest (else CorruptArtifactError)."""
        record = self.index.get(version)
        if record is None:
            raise NotFoundError(f"model version {version} is not registered")
        return self.artifacts.local_copy(version, record["manifest_sha256"])

    def fetch_city_model(self, model_id: CityModelId) -> Path:
        """The folder of one city's model of a per-city version, verified, without the other cities'
        files (from S3 only its own files are downloaded): what one Serve replica loads for one city."""
        record = self.index.get(model_id.version)
        if record is None:
            raise NotFoundError(f"model version {model_id.version} is not registered")
        if model_id.city not in record["cities"]:
            raise NotFoundError(f"model version {model_id.version} does not cover city {model_id.city}")
        root = self.artifacts.local_copy(model_id.version, record["manifest_sha256"], only=[model_id.folder])
        return root / model_id.folder

    def production(self, city: str) -> ModelVersion | None:
        version = current_production(self.index.events()).get(city.upper())
        return None if version is None else self.get(version)

    def resolve(self, city: str, version: str | None = None) -> ModelVersion:
        """The named version, else the city's production, else the newest version trained on it."""
        city = city.upper()
        if version is not None:
            found = self.get(version)
            if city not in found.cities:
                raise NotFoundError(f"model version {version} does not cover city {city} (it covers {', '.join(found.cities)})")
            return found
        production = self.production(city)
        if production is not None:
            return production
        covering = self.list_versions(city)
        if not covering:
            raise NotFoundError(f"no model version covers city {city}; train one with `efp train --cities {city}`")
        return covering[-1]

    def production_token(self) -> str:
        """Changes on every promote and rollback (the file index also on register); cheap enough to poll."""
        return self.index.token()


def open_registry(settings: PlatformSettings) -> ModelRegistry:
    artifacts = open_artifacts(settings)
    index: RegistryIndex = PostgresIndex(settings.database_dsn) if settings.database_dsn else JsonIndex(artifacts)
    return ModelRegistry(settings, artifacts, index)
