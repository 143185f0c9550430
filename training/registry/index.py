"""The registry index as a protocol, and its JSON-file form (used when no PostgreSQL is set).

The index holds each version's record (what ``ModelVersion`` has minus the derived stage)
and the per-city production history; stages are derived from that history, so they can
never disagree with it. ``token`` changes on every promote and rollback, so serving
replicas can poll one cheap value to learn that production moved.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any, Protocol

from data.errors import ConflictError
from training.registry.artifacts import ArtifactStore
from training.registry.models import ProductionEvent

INDEX_NAME = "index.json"


class RegistryIndex(Protocol):
    def add(self, record: dict[str, Any]) -> None: ...

    def get(self, version: str) -> dict[str, Any] | None: ...

    def all(self) -> list[dict[str, Any]]: ...

    def events(self) -> list[ProductionEvent]: ...

    def promote(self, version: str, cities: list[str], forced: bool, by: str | None = None) -> None: ...

    def roll_back(self, city: str) -> tuple[str, str]:
        """Undo the city's latest active promotion; return (from_version, to_version)."""
        ...

    def token(self) -> str: ...


def current_production(events: list[ProductionEvent]) -> dict[str, str]:
    """city -> version of its latest promotion that was not rolled back."""
    current: dict[str, str] = {}
    for event in sorted(events, key=lambda e: e.id):
        if event.rolled_back_at is None:
            current[event.city] = event.version
    return current


def _now() -> str:
    return datetime.now(timezone.utc).isoformat()


class JsonIndex:
    """One JSON document beside the artifacts, replaced atomically on each change."""

    def __init__(self, store: ArtifactStore) -> None:
        self.store = store

    def _state(self) -> dict[str, Any]:
        raw = self.store.read_document(INDEX_NAME)
        return _parse(raw)

    def _update(self, change: Any) -> None:
        def apply(raw: bytes | None) -> bytes:
            state = _parse(raw)
            change(state)
            return json.dumps(state, indent=1, sort_keys=True, default=str).encode()

        self.store.update_document(INDEX_NAME, apply)

    def add(self, record: dict[str, Any]) -> None:
        def change(state: dict[str, Any]) -> None:
            if record["version"] in state["versions"]:
                raise ConflictError(f"model version {record['version']} is already registered")
            state["versions"][record["version"]] = record

        self._update(change)

    def get(self, version: str) -> dict[str, Any] | None:
        return self._state()["versions"].get(version)

    def all(self) -> list[dict[str, Any]]:
        return sorted(self._state()["versions"].values(), key=lambda r: (r["created_at"], r["version"]))

    def events(self) -> list[ProductionEvent]:
        return [ProductionEvent.model_validate(e) for e in self._state()["production"]]

    def promote(self, version: str, cities: list[str], forced: bool, by: str | None = None) -> None:
        def change(state: dict[str, Any]) -> None:
            next_id = max((e["id"] for e in state["production"]), default=0) + 1
            for offset, city in enumerate(cities):
                state["production"].append({"id": next_id + offset, "city": city, "version": version,
                                            "promoted_at": _now(), "forced": forced, "promoted_by": by})
            state["token"] += 1

        self._update(change)

    def roll_back(self, city: str) -> tuple[str, str]:
        result: list[tuple[str, str]] = []

        def change(state: dict[str, Any]) -> None:
            active = [e for e in state["production"] if e["city"] == city and not e.get("rolled_back_at")]
            active.sort(key=lambda e: e["id"])
            if len(active) < 2:
                raise ConflictError(f"city {city}: no previous production version to roll back to")
            active[-1]["rolled_back_at"] = _now()
            state["token"] += 1
            result.append((active[-1]["version"], active[-2]["version"]))

        self._update(change)
        return result[0]

    def token(self) -> str:
        return f"file:{self.store.document_tag(INDEX_NAME)}"


def _parse(raw: bytes | None) -> dict[str, Any]:
    if not raw:
        return {"token": 0, "versions": {}, "production": []}  # nosec B105: the index change counter, not a secret
    return json.loads(raw)
