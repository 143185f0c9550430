"""`efp weather fetch` against a real HTTP server on loopback serving Open-Meteo's documented
forecast JSON: stored as kind=forecast with issued_at; 5xx retried with backoff; a 4xx and a
server that is not there are one-line errors with a non-zero exit."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest
from typer.testing import CliRunner

from data.settings import get_settings
from data.stores import open_store
from ray_apps.cli import app

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "sources" / "open_meteo_delhi.json"


class OpenMeteo(BaseHTTPRequestHandler):
    """Answers GET /v1/forecast; the first ``failures`` calls get a 503, then the fixture."""

    failures = 0
    calls: list[dict[str, list[str]]] = []

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        query = parse_qs(urlparse(self.path).query)
        type(self).calls.append(query)
        if type(self).failures > 0:
            type(self).failures -= 1
            self._send(503, {"error": True, "reason": "busy"})
        elif "latitude" not in query:
            self._send(400, {"error": True, "reason": "Parameter 'latitude' is missing"})
        else:
            self._send(200, json.loads(FIXTURE.read_text()))

    def _send(self, status: int, body: dict) -> None:
        raw = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture()
def server() -> Iterator[str]:
    OpenMeteo.failures, OpenMeteo.calls = 0, []
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), OpenMeteo)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/v1/forecast"
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture()
def configure(settings, monkeypatch: pytest.MonkeyPatch) -> Iterator:
    def apply(url: str) -> None:
        monkeypatch.setenv("EFP_DATA_DIR", str(settings.data_dir))
        monkeypatch.setenv("EFP_ENVIRONMENT", "test")
        monkeypatch.setenv("EFP_WEATHER__FORECAST_URL", url)
        monkeypatch.setenv("EFP_WEATHER__BACKOFF_S", "0.01")
        monkeypatch.setenv("EFP_WEATHER__TIMEOUT_S", "2")
        get_settings.cache_clear()

    yield apply
    get_settings.cache_clear()


def test_fetch_stores_a_forecast_with_its_issue_time_after_retrying_a_busy_server(server: str, configure, settings) -> None:
    configure(server)
    OpenMeteo.failures = 2
    result = CliRunner().invoke(app, ["weather", "fetch", "--city", "del", "--days", "3", "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    assert summary["input_rows"] == 24 and summary["inserted"] == 24 and summary["rejected"] == 0
    assert len(OpenMeteo.calls) == 3
    query = OpenMeteo.calls[-1]
    assert query["latitude"] and query["forecast_days"] == ["3"] and query["timezone"] == ["Asia/Kolkata"]
    assert "temperature_2m" in query["hourly"][0]
    stored = open_store(settings).read_weather("DEL", kind="forecast")
    assert len(stored) == 24 and stored["issued_at"].notna().all()
    assert str(stored["ts"].iloc[0]) == "2024-04-30 18:30:00+00:00"  # 00:00 in Delhi
    assert open_store(settings).read_weather("DEL").empty  # not mixed with observations


def test_a_server_that_keeps_failing_or_refuses_is_one_line_and_non_zero(server: str, configure) -> None:
    configure(server)
    OpenMeteo.failures = 10
    result = CliRunner().invoke(app, ["weather", "fetch", "--city", "DEL"])
    assert result.exit_code != 0 and "failed after 4 attempt(s): HTTP 503 busy" in result.output
    assert len(OpenMeteo.calls) == 4 and "Traceback" not in result.output


def test_an_unreachable_service_and_bad_options_are_one_line_errors(configure) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed again: nothing listens there
    configure(f"http://127.0.0.1:{port}/v1/forecast")
    result = CliRunner().invoke(app, ["weather", "fetch", "--city", "DEL"])
    assert result.exit_code != 0 and "unreachable" in result.output and f"127.0.0.1:{port}" in result.output
    assert len(result.output.strip().splitlines()) == 1
    assert CliRunner().invoke(app, ["weather", "fetch", "--city", "XXX"]).exit_code != 0
    bad_days = CliRunner().invoke(app, ["weather", "fetch", "--city", "DEL", "--days", "30"])
    assert bad_days.exit_code == 2 and "--days" in bad_days.output
