"""Metadata beside the time series: ingestion runs, quarantined rows, series resolutions,
the city catalogue (mirrored), and alerts raised by the monitoring job.

``MetadataStore`` is what the pipeline, the CLI and the monitor use; ``FileMetadataStore``
is the embedded default (JSON-lines, JSON and Parquet files under ``metadata_dir``), and
``data.stores.postgres.metadata.PostgresMetadataStore`` keeps the same things in tables.
Files are replaced atomically (write temp, rename) or appended a whole line at a time
(``jsonl``: a line a crash cut short is skipped and then dropped), so that a crash never
leaves half a record in use, under an exclusive ``flock`` because Ray tasks of one ingest
write the same folder from several processes.
"""

from __future__ import annotations

import json
import os
import threading
import uuid
from contextlib import AbstractContextManager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import pandas as pd

from data.catalogue import Catalogue, City
from data.records import IngestSummary
from data.stores.jsonl import append_record, read_records
from data.stores.locking import folder_lock

QUARANTINE_COLUMNS = ("run_id", "line", "city", "ts", "field", "reason", "raw")
ALERT_SEVERITIES = ("info", "warning", "critical")


@runtime_checkable
class MetadataStore(Protocol):
    def record_run(
        self, summary: IngestSummary, started_at: datetime, finished_at: datetime, quarantine: pd.DataFrame | None = None,
    ) -> None:
        """Record a run together with its quarantined rows: both or neither (a run never
        counts rejected rows whose quarantine is missing)."""
        ...

    def add_quarantine(self, run_id: str, frame: pd.DataFrame) -> int: ...

    def quarantine(self, city: str | None = None, limit: int = 1000) -> pd.DataFrame:
        """Quarantined rows, newest run first."""
        ...

    def quarantine_counts(self) -> dict[str, int]:
        """Quarantined rows per city, over all runs."""
        ...

    def runs(self, limit: int = 50) -> list[dict[str, Any]]:
        """Ingestion runs, newest first (the summary fields plus started_at/finished_at)."""
        ...

    def set_resolution(self, city: str, minutes: int) -> None: ...

    def resolution(self, city: str) -> int | None: ...

    def upsert_city(self, city: City) -> None: ...

    def cities(self) -> list[City]: ...

    def add_alert(
        self, kind: str, message: str, *, city: str | None = None, severity: str = "warning",
        details: dict[str, Any] | None = None,
    ) -> int: ...

    def alerts(self, city: str | None = None, limit: int = 100, *, open_only: bool = False) -> list[dict[str, Any]]:
        """Alerts newest first, each with ``resolved_at`` (None while its condition holds)."""
        ...

    def resolve_alert(self, alert_id: int) -> None:
        """Mark an alert resolved now (its condition cleared); resolving it again changes nothing."""
        ...


def check_severity(severity: str) -> None:
    """Both stores refuse the same severities, so an alert never exists in one and not the other."""
    if severity not in ALERT_SEVERITIES:
        raise ValueError(f"severity must be one of {ALERT_SEVERITIES}")


def normalise_quarantine(run_id: str, frame: pd.DataFrame) -> pd.DataFrame:
    """Quarantine rows with every contract column, as strings where the source gave anything."""
    out = pd.DataFrame(index=range(len(frame)))
    out["run_id"] = run_id
    out["line"] = pd.to_numeric(frame["line"], errors="coerce").astype("Int64").to_numpy() if "line" in frame else pd.NA
    for name in ("city", "field", "reason", "raw"):
        out[name] = frame[name].astype("string").to_numpy() if name in frame else pd.NA
    out["reason"] = out["reason"].fillna("rejected")
    out["ts"] = pd.to_datetime(frame["ts"], utc=True, errors="coerce").to_numpy() if "ts" in frame else pd.NaT
    out["ts"] = pd.to_datetime(out["ts"], utc=True)
    return out[list(QUARANTINE_COLUMNS)]


def _now() -> str:
    return datetime.now(timezone.utc).isoformat()


class FileMetadataStore:
    """Metadata as files: ``runs.jsonl``, ``quarantine/<run>.parquet``, ``resolution.json``,
    ``alerts.jsonl`` (with ``alerts_resolved.json``: id -> resolution time); cities live in the catalogue overlay (``cities.yaml``) that
    ``data.catalogue`` already keeps in the same folder."""

    _lock = threading.Lock()

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def _locked(self) -> AbstractContextManager[None]:
        """Exclusive across threads and processes for a read-modify-write of the folder."""
        return folder_lock(self.root, self._lock)

    def _append(self, name: str, record: dict[str, Any]) -> None:
        with self._locked():
            append_record(self.root / name, record)

    def _lines(self, name: str) -> list[dict[str, Any]]:
        return read_records(self.root / name)

    def _write_json(self, name: str, payload: Any) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        temp = self.root / f".{name}.{uuid.uuid4().hex}.tmp"
        temp.write_text(json.dumps(payload, indent=2, sort_keys=True), encoding="utf-8")
        os.replace(temp, self.root / name)

    def _read_json(self, name: str) -> Any:
        path = self.root / name
        return json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}

    # ------------------------------------------------------------------- runs
    def record_run(
        self, summary: IngestSummary, started_at: datetime, finished_at: datetime, quarantine: pd.DataFrame | None = None,
    ) -> None:
        """The quarantine file first, the run's line last: the line is the commit point, and
        quarantine files of a run with no line (a crash between) are never listed."""
        if quarantine is not None:
            self.add_quarantine(summary.run_id, quarantine)
        record = summary.model_dump(mode="json")
        record.update(started_at=started_at.isoformat(), finished_at=finished_at.isoformat())
        self._append("runs.jsonl", record)

    def runs(self, limit: int = 50) -> list[dict[str, Any]]:
        return list(reversed(self._lines("runs.jsonl")))[:limit]

    # ------------------------------------------------------------- quarantine
    def add_quarantine(self, run_id: str, frame: pd.DataFrame) -> int:
        if frame is None or frame.empty:
            return 0
        rows = normalise_quarantine(run_id, frame)
        folder = self.root / "quarantine"
        folder.mkdir(parents=True, exist_ok=True)
        stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S%f")
        temp = folder / f".{run_id}.tmp"
        rows.to_parquet(temp, index=False)
        os.replace(temp, folder / f"{stamp}_{run_id}.parquet")
        return len(rows)

    def _quarantine_files(self) -> list[Path]:
        """Files of recorded runs (``<stamp>_<run_id>.parquet``), newest first."""
        folder = self.root / "quarantine"
        if not folder.is_dir():
            return []
        recorded = {str(run["run_id"]) for run in self._lines("runs.jsonl")}
        files = [path for path in folder.glob("*.parquet") if path.stem.split("_", 1)[-1] in recorded]
        return sorted(files, reverse=True)

    def quarantine(self, city: str | None = None, limit: int = 1000) -> pd.DataFrame:
        parts, count = [], 0
        for path in self._quarantine_files():
            part = pd.read_parquet(path)
            if city is not None:
                part = part[part["city"] == city.upper()]
            parts.append(part)
            count += len(part)
            if count >= limit:
                break
        if not parts:
            return normalise_quarantine("", pd.DataFrame())
        return pd.concat(parts, ignore_index=True).head(limit)

    def quarantine_counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for path in self._quarantine_files():
            cities = pd.read_parquet(path, columns=["city"])["city"].fillna("?")
            for code, number in cities.value_counts().items():
                counts[str(code)] = counts.get(str(code), 0) + int(number)
        return counts

    # ------------------------------------------------------------- resolution
    def set_resolution(self, city: str, minutes: int) -> None:
        with self._locked():
            table = self._read_json("resolution.json")
            table[city.upper()] = int(minutes)
            self._write_json("resolution.json", table)

    def resolution(self, city: str) -> int | None:
        value = self._read_json("resolution.json").get(city.upper())
        return int(value) if value is not None else None

    # ----------------------------------------------------------------- cities
    def _overlay(self) -> Catalogue:
        # The user's cities are the catalogue overlay kept in this same folder.
        overlay = self.root / "cities.yaml"
        return Catalogue(None, overlay)

    def upsert_city(self, city: City) -> None:
        with self._locked():
            catalogue = self._overlay()
            if city.code not in catalogue or catalogue.get(city.code) != city:
                catalogue.add(city, replace=True)

    def cities(self) -> list[City]:
        return list(self._overlay())

    # ----------------------------------------------------------------- alerts
    def add_alert(
        self, kind: str, message: str, *, city: str | None = None, severity: str = "warning",
        details: dict[str, Any] | None = None,
    ) -> int:
        check_severity(severity)
        with self._locked():
            alert_id = len(self._lines("alerts.jsonl")) + 1
            record = {"id": alert_id, "created_at": _now(), "city": city.upper() if city else None, "kind": kind, "severity": severity,
                      "message": message, "details": details or {}, "acknowledged": False}
            append_record(self.root / "alerts.jsonl", record)
        return alert_id

    def alerts(self, city: str | None = None, limit: int = 100, *, open_only: bool = False) -> list[dict[str, Any]]:
        resolved = self._read_json("alerts_resolved.json")
        records = [{**r, "resolved_at": resolved.get(str(r["id"]))} for r in reversed(self._lines("alerts.jsonl"))]
        if city is not None:
            records = [r for r in records if r.get("city") == city.upper()]
        if open_only:
            records = [r for r in records if r["resolved_at"] is None]
        return records[:limit]

    def resolve_alert(self, alert_id: int) -> None:
        with self._locked():
            resolved = self._read_json("alerts_resolved.json")
            resolved.setdefault(str(int(alert_id)), _now())
            self._write_json("alerts_resolved.json", resolved)
