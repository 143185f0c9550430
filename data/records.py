"""What flows between the pipeline's stages: a source's raw batch, and the validated outcome.

Connectors (CSV, Parquet, Open-Meteo, SLDC, Grid-India PSP, the synthetic generator)
produce a ``SourceBatch``; validation and transformation turn it into a
``ValidationOutcome``; loaders write the outcome's clean frames to the stores and its
quarantine to the metadata. Keeping the source line on every raw row is what lets a
rejection name the file and line it came from.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd
from pydantic import BaseModel, Field


@dataclass
class SourceBatch:
    """Raw rows from one source, already mapped to canonical column names but not yet trusted.

    ``load`` columns: ``line`` (1-based source line, header = line 1), ``city``, ``ts``
    (timezone-aware), ``load_mw`` (float, NaN where unparseable), ``load_shedding`` (bool,
    where the source says so), plus ``raw`` (the original text of the row, for quarantine;
    absent for Parquet and JSON sources, where validation rebuilds it for rejected rows).
    ``weather`` columns: ``line``, ``city``, ``ts``, the weather values present, ``kind``,
    ``issued_at``. Either frame may be empty. Connectors add ``error`` and ``error_field``
    (a row-level problem found while reading, e.g. an unparseable number, which validation
    turns into a rejection naming line and column); the synthetic generator adds ``fault``
    (which fault it injected, for its own tests; validation ignores it).
    """

    source: str
    path: str | None
    load: pd.DataFrame
    weather: pd.DataFrame
    resolution_minutes: int | None = None
    notes: list[str] = field(default_factory=list)
    #: Daily state-level supply position (Grid-India PSP): ``line``, ``region``, ``date``,
    #: ``max_demand_met_mw``, ``energy_met_mu``, ``shortage_mu``. None for other sources.
    supply: pd.DataFrame | None = None


#: Rejected rows echoed in a summary; the metadata store keeps every one of them.
QUARANTINE_SAMPLE = 20


class QuarantinedRow(BaseModel):
    """One rejected input row as a person needs it to fix the file."""

    line: int | None = Field(None, description="1-based line in the source file (header = 1).")
    field: str | None = Field(None, description="Column at fault.")
    reason: str


class IngestSummary(BaseModel):
    """The run summary of the CLI contract; ``input_rows = accepted + repaired + rejected``."""

    run_id: str = Field(description="Identifier of the ingestion run (also in the metadata store).")
    source: str
    path: str | None = None
    cities: list[str] = Field(default_factory=list)
    input_rows: int = 0
    accepted: int = 0
    repaired: int = 0
    rejected: int = 0
    inserted: int = 0
    unchanged: int = 0
    updated: int = 0
    weather_rows: int = 0
    repairs: dict[str, int] = Field(default_factory=dict, description="Repair name -> rows repaired that way.")
    rejections: dict[str, int] = Field(default_factory=dict, description="Reason -> rows rejected for it.")
    quarantined: list[QuarantinedRow] = Field(
        default_factory=list,
        description=f"The first {QUARANTINE_SAMPLE} rejected rows with line, field and reason (all are in the metadata).",
    )

    def reconciles(self) -> bool:
        return self.input_rows == self.accepted + self.repaired + self.rejected


@dataclass
class ValidationOutcome:
    """A batch after validation and transformation: what to store, and what was refused and why.

    ``load`` and ``weather`` follow ``data.schema`` (UTC, at the series' resolution, flags
    set). ``quarantine`` has columns ``line``, ``city``, ``ts``, ``field``, ``reason``,
    ``raw``: one row per rejected input row. Counts are over input rows, so that
    ``input_rows == accepted + repaired + rejected`` always holds.
    """

    load: pd.DataFrame
    weather: pd.DataFrame
    quarantine: pd.DataFrame
    resolution_minutes: dict[str, int]
    input_rows: int
    accepted: int
    repaired: int
    rejected: int
    repairs: dict[str, int] = field(default_factory=dict)
    rejections: dict[str, int] = field(default_factory=dict)
    supply: pd.DataFrame | None = None
