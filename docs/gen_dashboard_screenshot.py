"""Take docs/img/dashboard.png: the operators' dashboard showing Delhi's forecast band over a
week of actual load and of the forecasts stored for that week.

It builds what the dashboard test builds (tests/serving/test_dashboard.py): the tiny real
bundle trained in-process on synthetic data (about half a minute), a registry and stores
in a temporary folder, the in-process app with auth off served by uvicorn on a loopback
port, a week of day-ahead forecasts issued through the API, and Debian's Chromium driven
by Playwright (``/usr/bin/chromium``; ``make services`` installs it). Nothing leaves the
machine and nothing under ``var/`` is touched.

    python docs/gen_dashboard_screenshot.py                 # rewrite docs/img/dashboard.png
    python docs/gen_dashboard_screenshot.py --out /tmp/x.png
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import sys
import tempfile
from pathlib import Path
from types import SimpleNamespace

REPO_ROOT = Path(__file__).resolve().parent.parent
OUT = REPO_ROOT / "docs" / "img" / "dashboard.png"
for path in (REPO_ROOT, REPO_ROOT / "tests" / "serving"):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

CITIES = ["DEL", "MUM"]
DATA_START, DATA_DAYS = dt.date(2024, 3, 1), 45
AS_OF = "2024-04-11T10:00"  # the page shows the forecast of 2024-04-12, issued 10:00 the day before
HISTORY_FIRST = dt.date(2024, 4, 5)


def take(out: Path) -> Path:
    from browser import chromium, issue_day_ahead, serving
    from serving_world import build_world

    from data.settings import load_settings
    from serving.api import create_api
    from serving.wiring import local_state
    from training.tiny import build_tiny_bundle

    logging.getLogger("efp").setLevel(logging.ERROR)
    with tempfile.TemporaryDirectory(prefix="efp-dashboard-shot-") as tmp:
        root = Path(tmp)
        tiny_settings = load_settings(data_dir=root / "tiny" / "var", registry_uri=str(root / "tiny" / "registry"), environment="test")
        bundle, cities, start, end = build_tiny_bundle(tiny_settings, root / "bundle", CITIES, DATA_START, DATA_DAYS)
        tiny = SimpleNamespace(bundle_dir=bundle, settings=tiny_settings, cities=cities, data_start=start, data_end=end)
        world = build_world(tiny, root / "world", None, auth_enabled=False)
        state = local_state(world.settings)
        with serving(create_api(state)) as url, chromium() as browser:
            issue_day_ahead(url, CITIES, HISTORY_FIRST, 7)
            assert state.service.recorder is not None
            state.service.recorder.flush()
            page = browser.new_page(viewport={"width": 1240, "height": 1010})
            page.goto(f"{url}/dashboard?city=DEL&as_of={AS_OF}")
            page.wait_for_selector("svg#chart[data-state=drawn][data-city=DEL]", timeout=120_000)
            page.wait_for_selector("#batch tbody tr")
            box = page.locator("#chart").bounding_box()
            page.mouse.move(box["x"] + box["width"] * 0.93, box["y"] + box["height"] * 0.3)  # a tooltip in the forecast day
            page.wait_for_selector("#tooltip:not([hidden])")
            out.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(out))
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=OUT, help="PNG to write (default: docs/img/dashboard.png).")
    args = parser.parse_args(argv)
    print(f"wrote {take(args.out)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
