"""One monitor run: for each city score the stored forecasts, check drift and staleness,
reconcile the alerts, and publish the gauges.

Windows end at the city's newest actual, not at the wall clock, so a city whose data is
late is still scored on what did arrive (and raises ``data_stale`` for the lateness).
"""

from __future__ import annotations

import logging
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd
from pydantic import BaseModel

from data.catalogue import City, load_catalogue
from data.errors import NotFoundError
from data.settings import PlatformSettings
from data.stores import open_forecasts, open_metadata, open_store
from training.monitoring.alerts import AlertChange, Finding, alert_row, reconcile
from training.monitoring.config import MonitoringConfig, load_monitoring_config
from training.monitoring.drift import psi, reference_window
from training.monitoring.metrics import MonitorMetrics
from training.monitoring.scoring import BandScore, score_bands, scored_blocks
from training.registry import ModelVersion, open_registry

log = logging.getLogger("efp.monitor")


class DriftScore(BaseModel):
    city: str
    variable: str
    psi: float | None
    reference: str
    recent_rows: int
    reference_rows: int


class CityReport(BaseModel):
    city: str
    newest_actual: datetime | None
    data_age_hours: float | None
    model_version: str | None
    model_age_days: float | None
    errors: list[BandScore]
    drift: list[DriftScore]


class MonitorReport(BaseModel):
    """What ``efp monitor --json`` prints."""

    checked_at: datetime
    cities: list[CityReport]
    changes: list[AlertChange]
    open_alerts: list[dict]
    metrics_file: str | None


def default_metrics_file(settings: PlatformSettings) -> Path:
    return settings.data_dir / "monitor" / "metrics.prom"


def _model(settings: PlatformSettings, city: str) -> ModelVersion | None:
    try:
        return open_registry(settings).resolve(city)
    except NotFoundError:
        return None


def _error_findings(scores: list[BandScore], config: MonitoringConfig) -> list[Finding]:
    rules, findings = config.forecast_error, []
    for s in scores:
        if s.blocks < rules.min_blocks:
            continue
        where = f"{s.city} {s.lead_band} ({s.blocks} blocks, {s.forecasts} forecasts, last {rules.window_days} days)"
        if s.mape_pct is not None:
            severity = "critical" if s.mape_pct > 2 * rules.max_mape_pct else rules.severity
            findings.append(Finding(kind="forecast_error", city=s.city, condition=f"mape:{s.lead_band}", value=s.mape_pct,
                                    threshold=rules.max_mape_pct, breached=s.mape_pct > rules.max_mape_pct, severity=severity,
                                    message=f"MAPE {s.mape_pct:.1f} % (limit {rules.max_mape_pct:g} %) for {where}"))
        if s.bias_pct is not None:
            findings.append(Finding(kind="forecast_error", city=s.city, condition=f"bias:{s.lead_band}", value=s.bias_pct,
                                    threshold=rules.max_abs_bias_pct, breached=abs(s.bias_pct) > rules.max_abs_bias_pct,
                                    severity=rules.severity,
                                    message=f"bias {s.bias_pct:+.1f} % (limit ±{rules.max_abs_bias_pct:g} %) for {where}"))
        if s.coverage is not None:
            findings.append(Finding(kind="forecast_error", city=s.city, condition=f"coverage:{s.lead_band}", value=s.coverage,
                                    threshold=rules.min_coverage, breached=s.coverage < rules.min_coverage,
                                    severity=rules.severity,
                                    message=f"P10-P90 coverage {s.coverage:.2f} (at least {rules.min_coverage:g}) for {where}"))
    return findings


def _drift(city: City, load: pd.DataFrame, weather: pd.DataFrame, model: ModelVersion | None,
           config: MonitoringConfig) -> tuple[list[DriftScore], list[Finding]]:
    rules, scores, findings = config.drift, [], []
    sources = {"load_mw": load, "temperature_c": weather}
    train_start = pd.Timestamp(model.train_start).tz_convert("UTC") if model else None
    train_end = pd.Timestamp(model.train_end).tz_convert("UTC") if model else None
    for variable in rules.variables:
        series = sources[variable]
        if series.empty or variable not in series:
            continue
        series = series[["ts", variable]].dropna()
        if series.empty:
            continue
        recent_start = series["ts"].max() - pd.Timedelta(days=rules.window_days)
        recent = series.loc[series["ts"] > recent_start, variable].to_numpy(float)
        reference, kind = reference_window(series, variable, recent_start, train_start, train_end, city.timezone,
                                           rules.reference_weeks, rules.min_rows)
        if len(recent) < rules.min_rows or len(reference) < rules.min_rows:
            scores.append(DriftScore(city=city.code, variable=variable, psi=None, reference=kind,
                                     recent_rows=len(recent), reference_rows=len(reference)))
            continue
        value = psi(reference, recent, rules.bins)
        scores.append(DriftScore(city=city.code, variable=variable, psi=value, reference=kind, recent_rows=len(recent),
                                 reference_rows=len(reference)))
        findings.append(Finding(kind="drift", city=city.code, condition=f"psi:{variable}", value=value,
                                threshold=rules.max_psi, breached=value > rules.max_psi, severity=rules.severity,
                                message=f"{variable} PSI {value:.3f} (limit {rules.max_psi:g}) over the last "
                                        f"{rules.window_days} days against the {kind}"))
    return scores, findings


def monitor_city(settings: PlatformSettings, city: City, config: MonitoringConfig,
                 now: pd.Timestamp) -> tuple[CityReport, list[Finding]]:
    store, forecasts = open_store(settings), open_forecasts(settings)
    load = store.read_load(city.code)
    weather = store.read_weather(city.code, kind="observed")
    model = _model(settings, city.code)
    findings: list[Finding] = []
    errors: list[BandScore] = []
    newest = load["ts"].max() if not load.empty else None
    if newest is not None:
        window_start = newest - pd.Timedelta(days=config.forecast_error.window_days)
        blocks = forecasts.read(city.code, window_start, newest + pd.Timedelta(minutes=1))
        joined = scored_blocks(blocks, load[load["ts"] >= window_start], config.forecast_error.exclude_flags)
        errors = score_bands(city.code, joined, config.lead_bands)
        findings += _error_findings(errors, config)
    drift, drift_findings = _drift(city, load, weather, model, config)
    findings += drift_findings
    rules = config.staleness
    data_age = None
    if newest is not None:
        # The newest block's end is when the data was last complete.
        data_age = (now - newest) / pd.Timedelta(hours=1) - store.resolution_minutes(city.code) / 60
        findings.append(Finding(kind="data_stale", city=city.code, condition="load_age", value=data_age,
                                threshold=rules.max_data_age_hours, breached=data_age > rules.max_data_age_hours,
                                severity=rules.severity,
                                message=f"newest load block ends {data_age:.1f} h ago (limit {rules.max_data_age_hours:g} h)"))
    model_age = None
    if model is not None:
        model_age = (now - pd.Timestamp(model.train_end).tz_convert("UTC")) / pd.Timedelta(days=1)
        findings.append(Finding(kind="model_stale", city=city.code, condition="train_end_age", value=model_age,
                                threshold=rules.max_model_age_days, breached=model_age > rules.max_model_age_days,
                                severity=rules.severity,
                                message=f"model {model.version} was trained on data up to {model_age:.0f} days ago "
                                        f"(limit {rules.max_model_age_days:g} days)"))
    report = CityReport(city=city.code, newest_actual=None if newest is None else newest.to_pydatetime(),
                        data_age_hours=data_age, model_version=model.version if model else None, model_age_days=model_age,
                        errors=errors, drift=drift)
    return report, findings


def _publish(metrics: MonitorMetrics, reports: list[CityReport], open_alerts: list[dict], now: pd.Timestamp) -> None:
    for report in reports:
        for s in report.errors:
            labels = (s.city, s.lead_band)
            metrics.blocks.labels(*labels).set(s.blocks)
            for gauge, value in ((metrics.mape, s.mape_pct), (metrics.bias, s.bias_pct)):
                if value is not None:
                    gauge.labels(*labels).set(value / 100.0)
            for gauge, value in ((metrics.within, s.within_5pct), (metrics.coverage, s.coverage)):
                if value is not None:
                    gauge.labels(*labels).set(value)
        for d in report.drift:
            if d.psi is not None:
                metrics.psi.labels(d.city, d.variable).set(d.psi)
        if report.data_age_hours is not None:
            metrics.data_age.labels(report.city).set(report.data_age_hours * 3600)
        if report.model_age_days is not None:
            metrics.model_age.labels(report.city).set(report.model_age_days * 86400)
    metrics.set_firing(open_alerts, [r.city for r in reports])
    metrics.last_run.set(now.timestamp())


def monitored_cities(settings: PlatformSettings, cities: list[str] | None) -> list[City]:
    """The cities asked for (each must be in the catalogue), else every city with load or forecasts stored."""
    catalogue = load_catalogue(settings)
    if cities:
        return [catalogue.get(code) for code in cities]
    codes = sorted(set(open_store(settings).cities()) | set(open_forecasts(settings).cities()))
    return [catalogue.get(code) for code in codes if code in catalogue]


def run_monitor(settings: PlatformSettings, *, cities: list[str] | None = None, config: MonitoringConfig | None = None,
                now: datetime | None = None, metrics_file: Path | None = None) -> MonitorReport:
    """Check every city, write alert changes, publish the gauges (textfile, and Pushgateway when configured)."""
    config = config or load_monitoring_config()
    checked_at = pd.Timestamp(now or datetime.now(timezone.utc)).tz_convert("UTC")
    targets = monitored_cities(settings, cities)
    reports, findings = [], []
    for city in targets:
        report, found = monitor_city(settings, city, config, checked_at)
        reports.append(report)
        findings += found
    metadata = open_metadata(settings)
    changes = reconcile(metadata, findings, webhook_url=config.webhook_url)
    checked = {c.code for c in targets}
    open_alerts = [alert_row(a) for a in metadata.alerts(limit=100_000, open_only=True) if a.get("city") in checked]
    metrics = MonitorMetrics()
    _publish(metrics, reports, open_alerts, checked_at)
    metrics_file = metrics_file or default_metrics_file(settings)
    metrics.write_textfile(metrics_file)
    if config.pushgateway_url:
        try:
            metrics.push(config.pushgateway_url)
        except OSError as error:  # the alerts are stored; a Pushgateway that is down only delays the gauges
            log.warning("could not push monitor metrics to %s: %s", config.pushgateway_url, error)
    log.info("monitor: %d cities, %d alert(s) raised, %d resolved, %d open", len(reports),
             sum(c.change == "raised" for c in changes), sum(c.change == "resolved" for c in changes), len(open_alerts))
    return MonitorReport(checked_at=checked_at.to_pydatetime(), cities=reports, changes=changes, open_alerts=open_alerts,
                         metrics_file=str(metrics_file))
