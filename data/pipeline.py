"""The ingest pipeline: a source batch -> validation -> the stores -> a reconciled run summary.

Every source (a user's CSV, SLDC tables, Grid-India PSP, Open-Meteo, the synthetic
generator) goes through this one function, so the same rules decide what is accepted,
repaired or rejected, and the same summary comes back. Order matters for the promise
that bad input never changes what is stored: whole-file problems are raised by the
connector or the validator before any write; the clean frames of a batch are then
written inside one ``staged()`` block of the store (one PostgreSQL transaction, or lake
partitions renamed into place only after all are written); the run and its quarantined
rows are recorded last, as one record (``record_run`` with the quarantine: one
transaction, or the quarantine file before the run's line).

Why the data commit comes first: a run in the metadata is a claim that its rows are
stored. Recorded before the commit, a failed or killed write would leave a run claiming
rows that are not there. Recorded after, a crash between the two leaves rows stored and no
run: nothing claims anything false, and importing the same file again (idempotent upserts)
records the run with those rows counted as unchanged.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timezone

import pandas as pd

from data.catalogue import Catalogue, load_catalogue
from data.records import QUARANTINE_SAMPLE, IngestSummary, QuarantinedRow, SourceBatch, ValidationOutcome
from data.settings import PlatformSettings
from data.stores import MetadataStore, TimeSeriesStore, WriteCounts, open_metadata, open_store
from data.validation import TimeRange, validate


def new_run_id() -> str:
    """Sortable by time, unique across processes (Ray tasks ingest cities in parallel)."""
    return datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S") + "-" + uuid.uuid4().hex[:8]


def store_outcome(outcome: ValidationOutcome, store: TimeSeriesStore) -> dict[str, WriteCounts]:
    """Write a validated batch's frames all-or-nothing; counts per table."""
    counts = {"load": WriteCounts(), "weather": WriteCounts(), "supply": WriteCounts()}
    with store.staged():
        if not outcome.load.empty:
            counts["load"] = store.write_load(outcome.load)
        if not outcome.weather.empty:
            counts["weather"] = store.write_weather(outcome.weather)
        if outcome.supply is not None and not outcome.supply.empty:
            counts["supply"] = store.write_supply(outcome.supply)
    return counts


def _primary(counts: dict[str, WriteCounts], outcome: ValidationOutcome) -> WriteCounts:
    """The counts the summary reports: load rows, or weather/supply for sources that carry only those."""
    if not outcome.load.empty:
        return counts["load"]
    if not outcome.weather.empty:
        return counts["weather"]
    return counts["supply"]


def _cities(outcome: ValidationOutcome, batch: SourceBatch) -> list[str]:
    found: set[str] = set(outcome.resolution_minutes)
    for frame in (outcome.load, outcome.weather, batch.load):
        if frame is not None and not frame.empty and "city" in frame:
            found.update(str(code) for code in frame["city"].dropna().unique())
    if outcome.supply is not None and not outcome.supply.empty:
        found.update(str(region) for region in outcome.supply["region"].unique())
    return sorted(found)


def _quarantine_sample(quarantine: pd.DataFrame) -> list[QuarantinedRow]:
    rows = quarantine.head(QUARANTINE_SAMPLE)
    return [
        QuarantinedRow(
            line=None if pd.isna(row.line) else int(row.line),
            field=None if pd.isna(row.field) else str(row.field),
            reason=str(row.reason),
        )
        for row in rows.itertuples(index=False)
    ]


def ingest(
    batch: SourceBatch,
    settings: PlatformSettings,
    *,
    catalogue: Catalogue | None = None,
    store: TimeSeriesStore | None = None,
    metadata: MetadataStore | None = None,
    run_id: str | None = None,
) -> IngestSummary:
    """Validate ``batch``, store it, record the run; returns the summary of the CLI contract."""
    started = datetime.now(timezone.utc)
    catalogue = catalogue or load_catalogue(settings)
    outcome = validate(batch, catalogue, time_range=TimeRange.from_settings(settings.ingest, started))
    store = store or open_store(settings)
    metadata = metadata or open_metadata(settings)
    counts = store_outcome(outcome, store)
    for city, minutes in outcome.resolution_minutes.items():
        metadata.set_resolution(city, minutes)
    written = _primary(counts, outcome)
    summary = IngestSummary(
        run_id=run_id or new_run_id(),
        source=batch.source,
        path=batch.path,
        cities=_cities(outcome, batch),
        input_rows=outcome.input_rows,
        accepted=outcome.accepted,
        repaired=outcome.repaired,
        rejected=outcome.rejected,
        inserted=written.inserted,
        unchanged=written.unchanged,
        updated=written.updated,
        weather_rows=len(outcome.weather),
        repairs=dict(outcome.repairs),
        rejections=dict(outcome.rejections),
        quarantined=_quarantine_sample(outcome.quarantine),
    )
    metadata.record_run(summary, started, datetime.now(timezone.utc), outcome.quarantine)
    return summary
