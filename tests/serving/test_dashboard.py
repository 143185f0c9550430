"""The operators' dashboard (``GET /dashboard``) in headless Chromium, against the in-process
app over the tiny real bundle served by uvicorn on loopback: no console error, the chart of
the next day's 96 blocks drawn over a week of actual load and of the forecasts stored for
that week, values on hover, the city switch redrawing it, open alerts, the batch view of
peaks; with auth on the key prompt, the key kept in sessionStorage only; with auth off the
page says so. Also the page's security headers and the two read routes it uses.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import date

import httpx
import pytest

from data.stores import open_metadata
from serving.api import create_api
from serving.api.state import ServiceState
from serving.wiring import local_state

from browser import chromium, issue_day_ahead, serving
from serving_world import World, build_world

#: The issue time the page is opened with: the world's data ends on 2024-04-14.
AS_OF = "2024-04-11T10:00"
TARGET = date(2024, 4, 12)
HISTORY_FIRST = date(2024, 4, 5)  # the seven days before TARGET


@pytest.fixture(scope="module")
def world(tiny_trained, tmp_path_factory: pytest.TempPathFactory) -> World:
    """The tiny bundle's world (auth on, keys of each role), an open alert for DEL."""
    world = build_world(tiny_trained, tmp_path_factory.mktemp("dashboard"), None)
    open_metadata(world.settings).add_alert("data_stale", "DEL load is 30 h old", city="DEL", severity="critical")
    return world


def _state(world: World, auth: bool) -> ServiceState:
    return local_state(world.settings.model_copy(update={"auth_enabled": auth}))


@pytest.fixture(scope="module")
def open_app(world: World) -> Iterator[str]:
    """The app with auth off, with day-ahead forecasts of the week before TARGET stored."""
    state = _state(world, auth=False)
    with serving(create_api(state)) as url:
        issue_day_ahead(url, ["DEL", "MUM"], HISTORY_FIRST, 7)
        assert state.service.recorder is not None
        state.service.recorder.flush()
        yield url


@pytest.fixture(scope="module")
def guarded_app(world: World) -> Iterator[str]:
    with serving(create_api(_state(world, auth=True))) as url:
        yield url


@pytest.fixture(scope="module")
def browser() -> Iterator:
    with chromium() as launched:
        yield launched


class Page:
    """One browser tab that records console errors and uncaught exceptions."""

    def __init__(self, browser) -> None:
        self.context = browser.new_context(viewport={"width": 1280, "height": 1000})
        self.tab = self.context.new_page()
        self.errors: list[str] = []
        self.tab.on("console", lambda message: self.errors.append(message.text) if message.type == "error" else None)
        self.tab.on("pageerror", lambda error: self.errors.append(str(error)))

    def drawn(self, city: str) -> None:
        self.tab.wait_for_selector(f"svg#chart[data-state=drawn][data-city={city}]", timeout=60_000)

    def path_points(self, element_id: str) -> int:
        """Vertices of a drawn SVG path, counted from its ``d`` (one M or L per point)."""
        return len(re.findall(r"[ML]", self.tab.get_attribute(f"#{element_id}", "d") or ""))


@pytest.fixture()
def page(browser) -> Iterator[Page]:
    opened = Page(browser)
    yield opened
    opened.context.close()


def test_the_page_draws_the_next_day_over_actuals_and_stored_forecasts(open_app: str, page: Page, world: World) -> None:
    page.tab.goto(f"{open_app}/dashboard?city=DEL&as_of={AS_OF}")
    page.drawn("DEL")
    tab = page.tab
    assert "Authentication is off" in tab.text_content("#auth-status")
    assert tab.is_hidden("#key-form")
    assert page.path_points("p50-line") == 96 and tab.get_attribute("#chart", "data-points") == "96"
    assert tab.get_attribute("#forecast-band", "d").endswith("Z")
    # A week of actual load before the day and the day itself (the issue time lies in the past).
    assert page.path_points("actual-line") == 8 * 96
    assert page.path_points("stored-line") == 7 * 96  # one day-ahead forecast per day of that week
    assert tab.text_content("#meta-version") == world.versions[0]
    assert "11 Apr 2024, 10:00" in tab.text_content("#meta-as-of")
    assert tab.text_content("#meta-lead").startswith("14.0 h from the issue time")
    assert "11 Apr 2024, 10:00" in tab.text_content("#meta-data-until")
    assert "Forecast for Fri 12 Apr (DEL)" in tab.text_content("#chart-title")
    alerts = tab.locator("#alerts li")
    assert alerts.count() == 1 and "DEL load is 30 h old" in alerts.first.text_content()
    rows = {row.get_attribute("data-city"): row for row in tab.locator("#batch tbody tr").all()}
    assert set(rows) == {"DEL", "MUM"}  # the cities with a production model
    assert re.fullmatch(r"[\d,]+ MW", rows["DEL"].locator("td").nth(1).text_content())
    assert rows["DEL"].locator("td").nth(2).text_content().startswith("12 Apr")
    assert "BLR" in tab.text_content("#batch-idle")

    box = tab.locator("#chart").bounding_box()
    tab.mouse.move(box["x"] + box["width"] * 0.95, box["y"] + box["height"] / 2)
    tab.wait_for_selector("#tooltip:not([hidden])")
    tip = tab.text_content("#tooltip")
    assert "P50:" in tip and "P10-P90:" in tip and "Actual:" in tip and "12 Apr 2024" in tip
    tab.mouse.move(box["x"] + box["width"] * 0.3, box["y"] + box["height"] / 2)
    assert "Forecast then (P50):" in tab.text_content("#tooltip")
    assert page.errors == []


def test_switching_city_redraws_the_chart(open_app: str, page: Page) -> None:
    page.tab.goto(f"{open_app}/dashboard?city=DEL&as_of={AS_OF}")
    page.drawn("DEL")
    delhi = page.tab.get_attribute("#p50-line", "d")
    page.tab.select_option("#city", "MUM")
    page.drawn("MUM")
    assert page.path_points("p50-line") == 96
    assert page.tab.get_attribute("#p50-line", "d") != delhi
    assert page.tab.locator("#alerts li").first.text_content() == "No open alerts for this city."
    assert "city=MUM" in page.tab.url
    assert page.errors == []


def test_with_auth_on_the_page_asks_for_a_key_and_keeps_it_in_session_storage(guarded_app: str, page: Page, world: World) -> None:
    page.tab.goto(f"{guarded_app}/dashboard?city=DEL&as_of={AS_OF}")
    page.tab.wait_for_selector("#key-form:not([hidden])")
    assert page.tab.is_hidden("#board") and "Authentication is on" in page.tab.text_content("#auth-status")
    page.tab.fill("#api-key", world.keys["forecaster"])
    page.tab.click("#key-form button[type=submit]")
    page.drawn("DEL")
    assert page.path_points("p50-line") == 96
    stored = page.tab.evaluate("() => [sessionStorage.getItem('efp.apiKey'), localStorage.length, document.cookie]")
    assert stored == [world.keys["forecaster"], 0, ""]
    assert page.errors == []
    page.tab.reload()  # the same tab keeps the key: no prompt
    page.drawn("DEL")
    assert page.tab.is_hidden("#key-form")


def test_a_refused_key_brings_the_prompt_back(guarded_app: str, page: Page) -> None:
    page.tab.goto(f"{guarded_app}/dashboard")
    page.tab.fill("#api-key", "efp_not-a-key")
    page.tab.click("#key-form button[type=submit]")
    page.tab.wait_for_selector("#key-error:has-text('The key was refused')")
    assert page.tab.is_hidden("#board")
    assert page.tab.evaluate("() => sessionStorage.getItem('efp.apiKey')") is None


def test_the_page_and_its_assets_allow_only_their_own_origin(open_app: str) -> None:
    page = httpx.get(f"{open_app}/dashboard")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    policy = page.headers["content-security-policy"]
    assert "default-src 'self'" in policy and "frame-ancestors 'none'" in policy and "unsafe" not in policy
    assert not re.search(r"https?://", page.text)  # every asset and request is relative to this origin
    scripts = re.findall(r"<script\b[^>]*>", page.text)
    assert scripts and all(" src=" in tag for tag in scripts)  # no inline script
    assert not re.search(r"\son[a-z]+\s*=", page.text)  # no inline event handler
    for name, kind in [("dashboard.js", "text/javascript"), ("dashboard.css", "text/css"), ("favicon.svg", "image/svg+xml")]:
        asset = httpx.get(f"{open_app}/dashboard/static/{name}")
        assert asset.status_code == 200 and asset.headers["content-type"].startswith(kind), name
        assert asset.headers["x-content-type-options"] == "nosniff"
    missing = httpx.get(f"{open_app}/dashboard/static/router.py")  # a file of the package, not an asset
    assert missing.status_code == 404 and "no dashboard asset named 'router.py'" in missing.json()["detail"]
    assert httpx.get(f"{open_app}/dashboard/static/..%2F__init__.py").status_code == 404
    script = httpx.get(f"{open_app}/dashboard/static/dashboard.js").text
    assert not re.search(r"innerHTML|outerHTML|insertAdjacentHTML|document\.write|\beval\(|new Function", script)


def test_actuals_and_stored_forecasts_are_read_for_a_window(open_app: str, guarded_app: str, world: World) -> None:
    window = {"city": "del", "start": "2024-04-05T00:00:00+05:30", "end": "2024-04-12T00:00:00+05:30"}
    actuals = httpx.get(f"{guarded_app}/v1/actuals", params=window, headers=world.headers("viewer"))
    assert actuals.status_code == 200, actuals.text
    body = actuals.json()
    assert body["city"] == "DEL" and len(body["points"]) == 7 * 96
    assert body["points"][0]["ts"] == "2024-04-05T00:00:00+05:30" and body["points"][-1]["ts"] == "2024-04-11T23:45:00+05:30"
    stored = httpx.get(f"{guarded_app}/v1/forecasts", params=window, headers=world.headers("viewer")).json()
    assert [f["target_day"] for f in stored] == [f"2024-04-{d:02d}" for d in range(5, 12)]
    first = stored[0]
    assert first["as_of"] == "2024-04-04T10:00:00+05:30" and first["lead_hours"] == 14.0 and first["source"] == "served"
    assert first["model_version"] == world.versions[0] and len(first["points"]) == 96
    assert all(p["p10"] <= p["p50"] <= p["p90"] for f in stored for p in f["points"])
    # Only the blocks inside the window: half of the first day.
    half = httpx.get(f"{open_app}/v1/forecasts", params={**window, "start": "2024-04-05T12:00:00+05:30"}).json()
    assert half[0]["blocks"] == len(half[0]["points"]) == 48 and half[0]["points"][0]["ts"] == "2024-04-05T12:00:00+05:30"


@pytest.mark.parametrize("path", ["/v1/actuals", "/v1/forecasts"])
def test_the_read_routes_refuse_bad_windows_unknown_cities_and_missing_keys(guarded_app: str, world: World, path: str) -> None:
    viewer = world.headers("viewer")
    url = f"{guarded_app}{path}"
    assert httpx.get(url, params={"city": "DEL"}).status_code == 401
    unknown = httpx.get(url, params={"city": "XXX"}, headers=viewer)
    assert unknown.status_code == 404 and "XXX" in unknown.json()["detail"]
    for params, field, words in [
        ({"start": "2024-04-05T00:00:00"}, "start", "timezone"),  # no offset
        ({"start": "2024-04-05T00:00:00Z", "end": "2024-04-01T00:00:00Z"}, "start", "is not before end"),
        ({"start": "2024-01-01T00:00:00Z", "end": "2024-04-01T00:00:00Z"}, "start", "longer than 31 days"),
        ({"end": "yesterday"}, "end", "datetime"),
    ]:
        refused = httpx.get(url, params={"city": "DEL", **params}, headers=viewer)
        assert refused.status_code == 422, (params, refused.text)
        (problem,) = refused.json()["detail"]
        assert problem["loc"] == ["query", field] and words in problem["msg"], (params, problem)
    assert httpx.get(url, params={"city": "DEL"}, headers=viewer).status_code == 200  # the last 7 days: none stored, not an error
