"""Data commands of the CLI contract: ``efp cities list|add``, ``efp generate``, ``efp ingest``,
``efp data stats|plot``. Each parses options, calls the data layer and prints a table (or
JSON with ``--json``); errors are one line and a non-zero exit (``reports_errors``).
"""

from __future__ import annotations

import datetime as dt
from enum import Enum
from pathlib import Path
from typing import Optional

import typer
from pydantic import ValidationError

from data.catalogue import CatalogueError, City, load_catalogue
from data.errors import PlatformError, describe_validation_error
from data.records import IngestSummary
from data.settings import get_settings
from ray_apps.cli.output import JsonOption, console, print_json, print_table, quality_view, reports_errors

SUMMARY_FIELDS = ("input_rows", "accepted", "repaired", "rejected", "inserted", "unchanged", "updated")
CITY_FIELDS = ("code", "name", "country", "subdivision", "latitude", "longitude", "timezone", "peak_mw")

cities_app = typer.Typer(help="The city catalogue: list cities, add your own region.", no_args_is_help=True)
data_app = typer.Typer(help="Stored data: quality table and plots.", no_args_is_help=True)


class Source(str, Enum):
    csv = "csv"
    parquet = "parquet"
    open_meteo = "open-meteo"
    sldc = "sldc"
    psp = "psp"


# ---------------------------------------------------------------------- cities
@cities_app.command("list")
@reports_errors
def cities_list(json: bool = JsonOption) -> None:
    """The shipped catalogue plus cities added with `efp cities add` (and in PostgreSQL, if configured)."""
    from data.stores import open_metadata

    settings = get_settings()
    found = {city.code: city for city in load_catalogue(settings)}
    if settings.database_url:
        for city in open_metadata(settings).cities():
            found.setdefault(city.code, city)
    rows = [city.model_dump() for city in found.values()]
    print_json(rows) if json else print_table("Cities", rows, CITY_FIELDS)


@cities_app.command("add")
@reports_errors
def cities_add(
    code: str = typer.Argument(..., help="Short upper-case code, e.g. OSL."),
    name: str = typer.Option(..., "--name", help="Display name."),
    country: str = typer.Option(..., "--country", help="ISO country code known to `holidays` (e.g. IN, NO, US)."),
    subdivision: Optional[str] = typer.Option(None, "--subdivision", help="`holidays` subdivision, e.g. DL."),
    lat: float = typer.Option(..., "--lat", help="Latitude (degrees)."),
    lon: float = typer.Option(..., "--lon", help="Longitude (degrees)."),
    timezone: str = typer.Option(..., "--timezone", help="IANA timezone, e.g. Europe/Oslo."),
    peak_mw: float = typer.Option(..., "--peak-mw", help="Typical annual peak demand, MW."),
    replace: bool = typer.Option(False, "--replace", help="Redefine a city that already exists."),
    json: bool = JsonOption,
) -> None:
    """Add a city (any country/subdivision `holidays` knows, any IANA timezone)."""
    from data.stores import open_metadata

    settings = get_settings()
    try:
        city = City(code=code, name=name, country=country, subdivision=subdivision, latitude=lat, longitude=lon,
                    timezone=timezone, peak_mw=peak_mw)
    except ValidationError as error:
        raise CatalogueError(f"city {code}: {describe_validation_error(error, default='city')}") from None
    load_catalogue(settings).add(city, replace=replace)
    if settings.database_url:
        open_metadata(settings).upsert_city(city)
    if json:
        print_json(city.model_dump())
    else:
        console.print(f"added {city.code} ({city.name}, {city.country}{'-' + city.subdivision if city.subdivision else ''}, "
                      f"{city.timezone})")


# -------------------------------------------------------------------- generate
@reports_errors
def generate(
    cities: str = typer.Option("", "--cities", help="Comma-separated codes (default: the whole catalogue)."),
    start: dt.datetime = typer.Option(dt.datetime(2023, 1, 1), "--start", formats=["%Y-%m-%d"], help="First day."),
    days: int = typer.Option(730, "--days", min=1, help="Number of days."),
    seed: int = typer.Option(42, "--seed", help="Random seed (same seed, same data)."),
    fault_rate: Optional[float] = typer.Option(None, "--fault-rate", min=0, max=0.5,
                                               help="Share of blocks given a fault (default from settings)."),
    use_ray: Optional[bool] = typer.Option(None, "--ray/--no-ray",
                                           help="One Ray task per city (default: only when a Ray address is set)."),
    json: bool = JsonOption,
) -> None:
    """Generate synthetic load and weather and ingest it through the same pipeline as files."""
    from data.distributed import generate_and_ingest

    settings = get_settings()
    codes = [c.strip() for c in cities.split(",") if c.strip()] or load_catalogue(settings).codes
    parallel = bool(settings.ray_address) if use_ray is None else use_ray
    if parallel:
        from ray_apps.runtime import init_ray

        init_ray(settings)
    summaries = generate_and_ingest(settings, codes, start.date(), days, seed, fault_rate, use_ray=parallel)
    _print_summaries(summaries, json)


def _print_summaries(summaries: list[IngestSummary], json: bool) -> None:
    if json:
        print_json([s.model_dump(mode="json") for s in summaries])
        return
    rows = [{"city": ",".join(s.cities), **{k: getattr(s, k) for k in SUMMARY_FIELDS}} for s in summaries]
    print_table("Ingested", rows)


# ---------------------------------------------------------------------- ingest
def _column_map(pairs: list[str], timestamp: str | None, load: str | None, city: str | None) -> dict[str, str]:
    mapping: dict[str, str] = {}
    for pair in pairs:
        source, sep, canonical = pair.partition("=")
        if not sep or not source.strip() or not canonical.strip():
            raise PlatformError(f"--map expects SOURCE=CANONICAL, got {pair!r}")
        mapping[source.strip()] = canonical.strip()
    for source, canonical in ((timestamp, "timestamp"), (load, "load_mw"), (city, "city")):
        if source:
            mapping[source] = canonical
    return mapping


@reports_errors
def ingest(
    source: Source = typer.Argument(..., help="Kind of file."),
    path: Path = typer.Argument(..., help="File to import."),
    city: Optional[str] = typer.Option(None, "--city", help="City code for files without a city column."),
    timestamp_column: Optional[str] = typer.Option(None, "--timestamp-column", help="Column holding the timestamp."),
    load_column: Optional[str] = typer.Option(None, "--load-column", help="Column holding the load in MW."),
    city_column: Optional[str] = typer.Option(None, "--city-column", help="Column holding the city code."),
    mapping: list[str] = typer.Option([], "--map", help="Rename a column: SOURCE=CANONICAL (repeatable)."),
    timezone: Optional[str] = typer.Option(None, "--timezone", help="Timezone of timestamps without an offset."),
    date: Optional[dt.datetime] = typer.Option(None, "--date", formats=["%Y-%m-%d"], help="Report date (SLDC, PSP)."),
    kind: str = typer.Option("observed", "--kind", help="Open-Meteo: observed or forecast."),
    issued_at: Optional[dt.datetime] = typer.Option(None, "--issued-at", help="Open-Meteo forecasts: issue time."),
    json: bool = JsonOption,
) -> None:
    """Validate a file and store it; prints {input_rows, accepted, repaired, rejected, inserted, unchanged}."""
    from data.connectors import CONNECTORS
    from data.pipeline import ingest as run_ingest

    settings = get_settings()
    catalogue = load_catalogue(settings)
    code = catalogue.get(city).code if city else None
    options: dict = {
        "column_map": _column_map(mapping, timestamp_column, load_column, city_column) or None,
        "default_timezone": timezone,
        "catalogue": catalogue,
        "chunk_rows": settings.ingest.chunk_rows,  # CSV and Parquet are read in chunks
    }
    if code is not None:  # else each reader keeps its own default (SLDC: Delhi)
        options["city"] = code
    if date is not None:
        options["date"] = date.date()
    if source is Source.open_meteo:
        if code is None:
            raise PlatformError("open-meteo files need --city")
        options.update(kind=kind, issued_at=issued_at)
    batch = CONNECTORS[source.value](path, **options)
    summary = run_ingest(batch, settings, catalogue=catalogue)
    if json:
        print_json(summary.model_dump(mode="json"))
        return
    print_table(f"Ingested {path.name} (run {summary.run_id})", [{k: getattr(summary, k) for k in SUMMARY_FIELDS}])
    if summary.rejections:
        print_table("Rejected rows by reason", [{"reason": r, "rows": n} for r, n in summary.rejections.items()])
        shown = summary.quarantined
        title = f"Quarantined rows (first {len(shown)} of {summary.rejected})" if summary.rejected > len(shown) else "Quarantined rows"
        print_table(title, [row.model_dump() for row in shown], ["line", "field", "reason"])


# ------------------------------------------------------------------------ data
@data_app.command("stats")
@reports_errors
def data_stats(
    city: Optional[str] = typer.Option(None, "--city", help="Only this city."),
    json: bool = JsonOption,
) -> None:
    """Per-city data quality: rows, span, resolution, share flagged, gaps, quarantined rows."""
    from data.stats import quality_table

    settings = get_settings()
    code = load_catalogue(settings).get(city).code if city else None
    rows = quality_table(settings, code)
    if json:
        print_json(rows)
        return
    console.print(quality_view(rows, "Data quality"))


@data_app.command("plot")
@reports_errors
def data_plot(
    city: str = typer.Option(..., "--city", help="City code."),
    start: dt.datetime = typer.Option(..., "--start", formats=["%Y-%m-%d"], help="First local day."),
    end: dt.datetime = typer.Option(..., "--end", formats=["%Y-%m-%d"], help="Last local day (included)."),
    out: Path = typer.Option(..., "--out", help="PNG file to write."),
    json: bool = JsonOption,
) -> None:
    """Plot stored load (imputed, shedding and outlier blocks marked) with temperature."""
    from data.plotting import plot_city
    from data.stores import open_store

    settings = get_settings()
    target = load_catalogue(settings).get(city)
    written = plot_city(open_store(settings), target, start.date(), end.date(), out)
    print_json({"city": target.code, "out": str(written)}) if json else console.print(f"wrote {written}")


def register(app: typer.Typer) -> None:
    """Add this group's commands to the root app."""
    app.add_typer(cities_app, name="cities")
    app.add_typer(data_app, name="data")
    app.command("generate")(generate)
    app.command("ingest")(ingest)
