"""Helpers of the dashboard's browser tests (and of docs/gen_dashboard_screenshot.py): the
FastAPI app served by uvicorn on a loopback port in a thread, Debian's Chromium driven by
Playwright, and day-ahead forecasts issued through the API so the forecast store holds some.

Playwright's own browser download is not used (it cannot be reached here): Chromium is the
system package, ``/usr/bin/chromium`` (scripts/ensure-services.sh installs it).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, timedelta
from typing import Any

import httpx
import uvicorn

from serving_world import free_port

CHROMIUM = "/usr/bin/chromium"
#: Nothing leaves the machine: no background services, updates, sync or QUIC probes.
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@contextmanager
def serving(app: Any) -> Iterator[str]:
    """``app`` served on 127.0.0.1 (a free port) until the block ends; yields its base URL."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, name=f"uvicorn-{port}", daemon=True)
    thread.start()
    try:
        while not server.started:
            if not thread.is_alive():
                raise RuntimeError(f"uvicorn on port {port} stopped before it started")
            thread.join(0.05)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join()


@contextmanager
def chromium() -> Iterator[Any]:
    """A headless Chromium browser (Playwright's sync API over the system package)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


def issue_day_ahead(url: str, cities: list[str], first: date, days: int, headers: dict[str, str] | None = None) -> None:
    """One forecast per city and day, issued at 10:00 local the day before (the operational
    day-ahead), through ``POST /v1/forecast/batch``: the service stores each one it computes."""
    requests = [{"city": city, "start": f"{first + timedelta(days=i)}T00:00:00", "as_of": f"{first + timedelta(days=i - 1)}T10:00:00"}
                for city in cities for i in range(days)]
    response = httpx.post(f"{url}/v1/forecast/batch", json={"requests": requests}, headers=headers or {}, timeout=120)
    response.raise_for_status()
    failed = [item for item in response.json()["results"] if item["status"] != 200]
    if failed:
        raise RuntimeError(f"day-ahead forecasts failed: {failed}")
