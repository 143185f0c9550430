"""``efp serve``, ``efp forecast`` and ``efp keys create|list|revoke`` (docs/contracts.md, "CLI contract")."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any, Literal, Optional

import typer
from rich.console import Console

from data.settings import get_settings
from ray_apps.cli.output import JsonOption, console, print_json, print_table, reports_errors

Engine = Literal["serve", "local"]

keys_app = typer.Typer(help="API keys of the forecast service (stored hashed; the key is shown once).", no_args_is_help=True)


@reports_errors
def serve_command(
    port: Optional[int] = typer.Option(None, "--port", help="HTTP port (default: settings serve.port)."),
    engine: Engine = typer.Option("serve", "--engine",
                                  help="serve: the Ray Serve graph; local: the whole ensemble in this process under uvicorn, no Ray."),
    tls_cert: Optional[Path] = typer.Option(None, "--tls-cert", help="PEM certificate: serve HTTPS (default: settings serve.tls_cert_file)."),
    tls_key: Optional[Path] = typer.Option(None, "--tls-key", help="PEM private key of --tls-cert (default: settings serve.tls_key_file)."),
) -> None:
    """Start the forecast service on local Ray (or settings.ray_address), or in-process with --engine local, until Ctrl-C."""
    from ray_apps.serve_runner import run_local_service, run_service
    from serving.tls import with_tls

    settings = get_settings()
    settings = settings.model_copy(update={"serve": with_tls(settings.serve, tls_cert, tls_key)})
    run = run_local_service if engine == "local" else run_service
    raise typer.Exit(run(settings, port=port, say=console.print))


@reports_errors
def forecast_command(
    city: str = typer.Option(..., "--city", help="City code, e.g. DEL."),
    day: Optional[datetime] = typer.Option(None, "--date", formats=["%Y-%m-%d"], help="Day to forecast (default: tomorrow)."),
    as_of: Optional[datetime] = typer.Option(None, "--as-of", formats=["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M:%S"],
                                             help="Issue time (the city's local time): only data known before it is used. Default: now."),
    intraday: Optional[int] = typer.Option(None, "--intraday", min=1, help="Forecast the next N blocks from now instead of a day."),
    plot: Optional[Path] = typer.Option(None, "--plot", help="Write a PNG (actual load, P50, P10-P90 band)."),
    url: Optional[str] = typer.Option(None, "--url", help="Service URL (default: http://<serve.host>:<serve.port>)."),
    api_key: Optional[str] = typer.Option(None, "--api-key", help="API key (from `efp keys create`)."),
    as_json: bool = JsonOption,
) -> None:
    """Ask the running service for a day-ahead forecast and print its blocks (or plot them)."""
    from serving.client import ServiceError, request_forecast

    settings = get_settings()
    url = url or f"http://{settings.serve.host}:{settings.serve.port}"
    if intraday is not None and day is not None:
        raise ServiceError("--intraday and --date are exclusive: an intraday forecast starts at the next block")
    body = request_forecast(url, city, day=day.date() if day else None, as_of=as_of, intraday=intraday, api_key=api_key)
    show_forecast(body, plot=plot, as_json=as_json, settings=settings)


def show_forecast(body: dict[str, Any], *, plot: Path | None, as_json: bool, settings: Any, out: Console = console) -> None:
    """Print the forecast as JSON or a table, and write the plot with the recent actual load when stored."""
    from serving.client import forecast_rows, lead_hours, plot_forecast

    if plot is not None:
        plot_forecast(body, plot, history=_history_tail(settings, body))
    if as_json:
        print_json(body)
        return
    members = ", ".join(f"{m['name']} {m['weight']:.2f}" + ("" if m["used"] else f" (left out: {m['reason']})") for m in body.get("members") or [])
    print_table(f"{body['city']} forecast, model {body['model_version']}" + (" [degraded]" if body["degraded"] else "")
                + (" [cached]" if body["cached"] else ""), forecast_rows(body))
    out.print(f"members: {members}")
    lead = lead_hours(body)
    out.print(f"issued {body.get('as_of')}; load known until {body.get('data_until')}"
              + (f" (lead {lead:.1f} h)" if lead is not None else ""))
    for note in body.get("notes") or []:
        out.print(f"note: {note}")
    if plot is not None:
        out.print(f"plot written to {plot}")


def _history_tail(settings: Any, body: dict[str, Any]) -> Any:
    """The last two days of actual load before the forecast (and over it, for a past day), never
    past the present: a synthetic store can hold values for later today that no meter has read yet."""
    import pandas as pd

    try:
        from data.stores import open_store

        start = pd.Timestamp(body["points"][0]["ts"]).tz_convert("UTC")
        end = min(pd.Timestamp(body["points"][-1]["ts"]).tz_convert("UTC"), pd.Timestamp.now(tz="UTC"))
        return open_store(settings).read_load(body["city"], start - pd.Timedelta(days=2), end)
    except Exception:  # the plot is still useful without history (e.g. a remote service)
        return None


@keys_app.command("create")
@reports_errors
def keys_create(
    role: str = typer.Option(..., "--role", help="viewer, forecaster or admin."),
    name: str = typer.Option(..., "--name", help="Who the key is for, e.g. ops-team."),
    rate_limit: Optional[int] = typer.Option(None, "--rate-limit", help="Requests per minute for this key (default: settings)."),
    expires_in: Optional[str] = typer.Option(None, "--expires-in", help="Lifetime, e.g. 30d, 12h or 90m (default: never expires)."),
    as_json: bool = JsonOption,
) -> None:
    """Create a key and print it once (only its hash is stored)."""
    from serving.auth.keys import key_lifetime, open_key_store

    lifetime = None if expires_in is None else key_lifetime(expires_in)
    record, key = open_key_store(get_settings()).create(name, role, rate_limit_per_minute=rate_limit, expires_in=lifetime)
    if as_json:
        print_json({"key": key, "id": record.id, "name": record.name, "role": record.role, "expires_at": record.expires_at})
        return
    until = "" if record.expires_at is None else f", expires {record.expires_at:%Y-%m-%d %H:%M} UTC"
    console.print(f"API key for [bold]{record.name}[/] (role {record.role}, id {record.id}{until}); it is shown only now:")
    console.print(key, highlight=False, soft_wrap=True)


@keys_app.command("list")
@reports_errors
def keys_list(as_json: bool = JsonOption) -> None:
    """List keys (ids, names, roles; never the secrets)."""
    from serving.auth.keys import open_key_store

    rows = [k.public() for k in open_key_store(get_settings()).list()]
    if as_json:
        print_json(rows)
    else:
        print_table("API keys", rows, ["id", "name", "role", "created_at", "expires_at", "revoked_at", "rate_limit_per_minute"])


@keys_app.command("revoke")
@reports_errors
def keys_revoke(key_id: str = typer.Argument(..., help="Key id (from `efp keys list`)."), as_json: bool = JsonOption) -> None:
    """Revoke a key; requests with it get 401 from then on."""
    from serving.auth.keys import open_key_store

    record = open_key_store(get_settings()).revoke(key_id)
    if as_json:
        print_json(record.public())
    else:
        console.print(f"revoked key {record.id} ({record.name})")


def demo_serve(settings: Any, options: Any, out: Console) -> int:
    """The demo's last stage: serve, print and plot tomorrow's forecast, keep serving unless told to exit."""
    import pandas as pd

    from ray_apps.serve_runner import run_service
    from serving.client import request_forecast

    def forecast(url: str) -> None:
        now = options.clock()
        body = request_forecast(url, options.forecast_city, as_of=now)
        plot = Path(options.out_dir) / f"forecast-{options.forecast_city}-{pd.Timestamp(body['points'][0]['ts']):%Y%m%d}.png"
        show_forecast(body, plot=plot, as_json=False, settings=settings, out=out)

    return run_service(settings, port=options.port, say=out.print, on_ready=forecast, exit_after=options.exit_after_forecast)


def register(app: typer.Typer) -> None:
    """Add this group's commands to the root app."""
    app.command("serve")(serve_command)
    app.command("forecast")(forecast_command)
    app.add_typer(keys_app, name="keys")
