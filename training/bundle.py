"""A trained version on disk and in memory: preprocessor state, members, ensemble weights.

Layout of a bundle folder (what the registry stores and checksums)::

    bundle.json         version, resolution, cities, members, feature-schema hash, config
    preprocessor.json   fitted state (city scales, city encoding, feature lists, feature config)
    ensemble.json       weights per city (and per horizon band)
    members/<name>/     model.ubj (XGBoost) or model.pt + member.json (LSTM, Transformer);
                        per-city models: members/<name>/<CITY>/...

No pickles: every file is JSON, XGBoost's UBJSON or a torch state dict loaded with
``weights_only=True``, so loading a bundle cannot execute code.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from data.errors import PlatformError
from training.api import ForecastInput, ForecastResult
from training.ensemble import WeightedEnsemble
from training.members.per_city import PerCityMember
from training.members.torch_member import TorchMember
from training.members.xgboost_member import XGBoostMember
from training.preprocessor import LoadPreprocessor

FORMAT = 1


class BundleError(PlatformError):
    """A bundle folder is missing files or is not a model bundle."""


def _save_member(member, folder: Path) -> dict:
    folder.mkdir(parents=True, exist_ok=True)
    if isinstance(member, PerCityMember):
        for city, model in member.by_city.items():
            _save_member(model, folder / city)
        return {"kind": "per_city", "cities": sorted(member.by_city)}
    member.save(folder)
    return {"kind": "global"}


def _load_member(name: str, folder: Path, meta: dict):
    if meta["kind"] == "per_city":
        return PerCityMember(name, {c: _load_member(name, folder / c, {"kind": "global"}) for c in meta["cities"]})
    return XGBoostMember.load(folder) if name == "xgboost" else TorchMember.load(name, folder)


@dataclass
class TrainedBundle:
    """Implements ``training.api.ModelBundle``."""

    version: str
    preprocessor: LoadPreprocessor
    members: dict
    ensemble: WeightedEnsemble
    config: dict = field(default_factory=dict)
    metrics: dict = field(default_factory=dict)

    @property
    def resolution_minutes(self) -> int:
        return self.preprocessor.resolution_minutes

    @property
    def cities(self) -> list[str]:
        return sorted(self.preprocessor.cities)

    @property
    def feature_schema_hash(self) -> str:
        return self.preprocessor.schema_hash()

    def save(self, path: Path) -> Path:
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        members_meta = {name: _save_member(m, path / "members" / name) for name, m in self.members.items()}
        (path / "preprocessor.json").write_text(json.dumps(self.preprocessor.state))
        (path / "ensemble.json").write_text(json.dumps(self.ensemble.to_json()))
        manifest = {
            "format": FORMAT, "version": self.version, "resolution_minutes": self.resolution_minutes, "cities": self.cities,
            "members": members_meta, "feature_schema_hash": self.feature_schema_hash, "config": self.config, "metrics": self.metrics,
        }
        (path / "bundle.json").write_text(json.dumps(manifest, indent=2, default=str))
        return path

    @classmethod
    def load(cls, path: Path) -> "TrainedBundle":
        path = Path(path)
        manifest_file = path / "bundle.json"
        if not manifest_file.exists():
            raise BundleError(f"{path}: not a model bundle (bundle.json missing)")
        try:
            manifest = json.loads(manifest_file.read_text())
            pre = LoadPreprocessor.from_state(json.loads((path / "preprocessor.json").read_text()))
            ensemble = WeightedEnsemble.from_json(json.loads((path / "ensemble.json").read_text()))
            members = {n: _load_member(n, path / "members" / n, meta) for n, meta in manifest["members"].items()}
        except (OSError, ValueError, KeyError, RuntimeError) as error:
            raise BundleError(f"{path}: cannot load bundle: {error}") from None
        return cls(manifest["version"], pre, members, ensemble, manifest.get("config", {}), manifest.get("metrics", {}))

    def forecast(self, inp: ForecastInput) -> ForecastResult:
        """Preprocess -> every member -> ensemble, in-process; failed members are left out (degraded)."""
        features = self.preprocessor.features(inp)
        predictions: dict[str, np.ndarray] = {}
        failed: dict[str, str] = {}
        for name, member in self.members.items():
            try:
                predictions[name] = member.predict([features])[0]
            except Exception as error:  # a broken member must not take the forecast down
                failed[name] = f"{type(error).__name__}: {error}"
        if not predictions:
            raise BundleError(f"no member of model {self.version} could forecast {inp.city}: {failed}")
        quantiles, weights = self.ensemble.combine(inp.city, predictions)
        return ForecastResult(
            city=inp.city, timestamps=features.timestamps, quantiles=quantiles, model_version=self.version,
            degraded=bool(failed), members_used=sorted(predictions), members_failed=failed,
            member_forecasts=predictions, notes=list(features.notes),
        )


def load_bundle(path: Path) -> TrainedBundle:
    """Load a bundle folder (e.g. the verified local copy from ``registry.fetch``)."""
    return TrainedBundle.load(path)
