"""Monitoring thresholds, read from ``monitoring.yaml`` of the configs folder with the shared loader."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from data.config_files import ConfigFileError, config_path, load_yaml_model

Severity = Literal["info", "warning", "critical"]


class MonitoringConfigError(ConfigFileError):
    """monitoring.yaml is missing or malformed; the message names the file, line and field."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class LeadBand(_Section):
    name: str = Field(min_length=1, description="Label of the band in reports, alerts and metrics.")
    min_hours: float = Field(ge=0, description="Blocks issued at least this long before their start...")
    max_hours: float = Field(gt=0, description="...and less than this long.")

    @model_validator(mode="after")
    def _ordered(self) -> "LeadBand":
        if self.max_hours <= self.min_hours:
            raise ValueError(f"max_hours must be above min_hours ({self.min_hours})")
        return self


class ForecastErrorRules(_Section):
    window_days: int = Field(14, ge=1, description="Rolling window: the days of actuals up to the newest one that are scored.")
    min_blocks: int = Field(96, ge=1, description="Fewer scored blocks than this in a band give no verdict (no alert, none resolved).")
    max_mape_pct: float = Field(10.0, gt=0, description="Rolling MAPE (percent) above this raises forecast_error.")
    max_abs_bias_pct: float = Field(8.0, gt=0, description="Mean (forecast - actual) over mean actual, in percent, beyond this raises forecast_error.")
    min_coverage: float = Field(0.5, ge=0, le=1, description="Share of actuals inside P10-P90 below this raises forecast_error.")
    severity: Severity = Field("warning", description="Severity of a breach; twice the MAPE threshold is critical.")
    exclude_flags: list[Literal["load_shedding", "imputed", "outlier"]] = Field(
        ["load_shedding", "imputed"], description="Actuals with these flags are not scored (they are not demand).")


class DriftRules(_Section):
    window_days: int = Field(7, ge=1, description="Recent window compared with the reference (days up to the newest actual).")
    max_psi: float = Field(0.25, gt=0, description="Population stability index above this raises drift.")
    bins: int = Field(10, ge=2, le=50, description="Quantile bins of the reference distribution.")
    reference_weeks: int = Field(4, ge=1, description="Without training data in the recent window's months: the weeks just before it are the reference.")
    min_rows: int = Field(96, ge=10, description="Fewer rows in either window give no verdict.")
    variables: list[Literal["load_mw", "temperature_c"]] = Field(["load_mw", "temperature_c"], description="Series checked.")
    severity: Severity = "warning"


class StalenessRules(_Section):
    max_data_age_hours: float = Field(6.0, gt=0, description="Newest load older than this raises data_stale.")
    max_model_age_days: float = Field(60.0, gt=0, description="A production model whose training data ended longer ago raises model_stale.")
    severity: Severity = "warning"


class MonitoringConfig(_Section):
    lead_bands: list[LeadBand] = Field(
        default_factory=lambda: [LeadBand(name="intraday", min_hours=0, max_hours=14),
                                 LeadBand(name="day_ahead", min_hours=14, max_hours=38),
                                 LeadBand(name="beyond", min_hours=38, max_hours=10_000)],
        min_length=1, description="Lead bands (block start minus issue time) scored separately.")
    forecast_error: ForecastErrorRules = Field(default_factory=ForecastErrorRules)
    drift: DriftRules = Field(default_factory=DriftRules)
    staleness: StalenessRules = Field(default_factory=StalenessRules)
    pushgateway_url: str | None = Field(None, description="Prometheus Pushgateway the job pushes its gauges to; None: only the textfile.")
    webhook_url: str | None = Field(None, description="URL each raised or resolved alert is POSTed to as JSON; None: no webhook.")


def load_monitoring_config(path: Path | None = None) -> MonitoringConfig:
    """``path``, else monitoring.yaml of the configs folder."""
    return load_yaml_model(path or config_path("monitoring.yaml"), MonitoringConfig, noun="field", default="config",
                           error=MonitoringConfigError)
