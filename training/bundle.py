"""A trained version on disk and in memory: preprocessor state, members, ensemble weights.

Layout of a bundle folder (what the registry stores and checksums)::

    bundle.json         version, resolution, cities, members, feature-schema hash, config
    preprocessor.json   fitted state (city scales, city encoding, feature lists, feature config)
    ensemble.json       weights per city (and per horizon band)
    members/<name>/     model.ubj (XGBoost) or model.pt + member.json (LSTM, Transformer);
                        per-city models: members/<name>/<CITY>/..., each loadable alone
                        (``load_member``), which is how Serve replicas load one city's model

No pickles: every file is JSON, XGBoost's UBJSON or a torch state dict loaded with
``weights_only=True``, so loading a bundle cannot execute code.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path


from data.errors import PlatformError
from training.api import ForecastInput
from training.ensemble import WeightedEnsemble
from training.forecast import EnsembleForecast, forecast_in_process
from training.members.per_city import PerCityMember
from training.members.registry import get_member
from training.members.spec import TrainedMember
from training.preprocessor import LoadPreprocessor

FORMAT = 1


class BundleError(PlatformError):
    """A bundle folder is missing files or is not a model bundle."""


def _save_member(member, folder: Path) -> dict:
    folder.mkdir(parents=True, exist_ok=True)
    if isinstance(member, PerCityMember):
        for city in member.cities:
            _save_member(member.model(city), folder / city)
        return {"kind": "per_city", "cities": member.cities}
    member.save(folder)
    return {"kind": "global"}


def load_member(name: str, folder: Path) -> TrainedMember:
    """One fitted model of member ``name`` from its folder (a global member's, or one city's)."""
    return get_member(name).load(folder)


def _load_member(name: str, folder: Path, meta: dict) -> TrainedMember:
    if meta["kind"] == "per_city":  # each city's model loads when that city is first forecast
        return PerCityMember(name, {}, cities=meta["cities"], loader=partial(_load_city, name, folder))
    return load_member(name, folder)


def _load_city(name: str, folder: Path, city: str) -> TrainedMember:
    return load_member(name, folder / city)


@dataclass
class TrainedBundle:
    """Implements ``training.api.ModelBundle``."""

    version: str
    preprocessor: LoadPreprocessor
    members: dict[str, TrainedMember]
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

    def forecast(self, inp: ForecastInput) -> EnsembleForecast:
        """Preprocess -> every member -> ensemble, in-process; failed members are left out (degraded)."""
        return forecast_in_process(self.version, self.members, self.ensemble.combine, self.preprocessor.features(inp))


def load_bundle(path: Path) -> TrainedBundle:
    """Load a bundle folder (e.g. the verified local copy from ``registry.fetch``)."""
    return TrainedBundle.load(path)
