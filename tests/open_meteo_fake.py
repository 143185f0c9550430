"""A stand-in for Open-Meteo's forecast and archive APIs: a real HTTP server on loopback that
answers the documented JSON shape (tests/fixtures/sources/open_meteo_delhi.json), so the
clients are tested over real sockets, never the internet and never a patched client.

``GET /v1/forecast`` answers the fixture as it is (24 hours of 2024-05-01), or, with
``live_forecast``, the fixture's hours repeated over ``forecast_days`` days from today in the
asked timezone (what the daily job needs to use it). ``GET /v1/archive`` repeats them over
``start_date`` to ``end_date``. The first ``failures`` calls get a 503; a call without
``latitude`` (or an archive call without dates) gets Open-Meteo's 400 ``{"error", "reason"}``.
"""

from __future__ import annotations

import copy
import datetime as dt
import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from urllib.parse import parse_qs, urlparse
from zoneinfo import ZoneInfo

from loopback_http import send_json, serving

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "sources" / "open_meteo_delhi.json"


@dataclass
class FakeOpenMeteo:
    base: str = ""
    calls: list[tuple[str, dict[str, list[str]]]] = field(default_factory=list)  # (path, query) of every GET
    failures: int = 0
    live_forecast: bool = False

    def url(self, api: str) -> str:
        """``api``: ``forecast`` or ``archive``."""
        return f"{self.base}/v1/{api}"

    def queries(self, api: str) -> list[dict[str, list[str]]]:
        return [query for path, query in self.calls if path == f"/v1/{api}"]


def _days(first: dt.date, count: int, timezone: str) -> dict:
    """The fixture's body with its 24 hourly values repeated over ``count`` local days from ``first``."""
    body = json.loads(FIXTURE.read_text())
    hourly = body["hourly"]
    hours = len(hourly["time"])
    repeated = {name: values * count for name, values in hourly.items() if name != "time"}
    repeated["time"] = [(dt.datetime.combine(first + dt.timedelta(days=d), dt.time(0)) + dt.timedelta(hours=h)).strftime("%Y-%m-%dT%H:%M")
                        for d in range(count) for h in range(hours)]
    body = copy.deepcopy(body)
    body["hourly"], body["timezone"] = repeated, timezone
    body["utc_offset_seconds"] = int(dt.datetime.now(ZoneInfo(timezone)).utcoffset().total_seconds())
    return body


def _handler(fake: FakeOpenMeteo) -> type[BaseHTTPRequestHandler]:
    class OpenMeteo(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server's name)
            url = urlparse(self.path)
            query = parse_qs(url.query)
            fake.calls.append((url.path, query))
            timezone = query.get("timezone", ["GMT"])[0]
            if fake.failures > 0:
                fake.failures -= 1
                self._send(503, {"error": True, "reason": "busy"})
            elif "latitude" not in query:
                self._send(400, {"error": True, "reason": "Parameter 'latitude' is missing"})
            elif url.path == "/v1/forecast" and fake.live_forecast:
                today = dt.datetime.now(ZoneInfo(timezone)).date()
                self._send(200, _days(today, int(query.get("forecast_days", ["7"])[0]), timezone))
            elif url.path == "/v1/forecast":
                self._send(200, json.loads(FIXTURE.read_text()))
            elif url.path == "/v1/archive" and {"start_date", "end_date"} <= set(query):
                start, end = (dt.date.fromisoformat(query[k][0]) for k in ("start_date", "end_date"))
                self._send(200, _days(start, (end - start).days + 1, timezone))
            elif url.path == "/v1/archive":
                self._send(400, {"error": True, "reason": "Parameter 'start_date' and 'end_date' are required"})
            else:
                self._send(404, {"error": True, "reason": "Not Found"})

        def _send(self, status: int, body: dict) -> None:
            send_json(self, status, body)

        def log_message(self, *args: object) -> None:
            pass

    return OpenMeteo


@contextmanager
def open_meteo_server() -> Iterator[FakeOpenMeteo]:
    fake = FakeOpenMeteo()
    with serving(_handler(fake)) as base:
        fake.base = base
        yield fake
