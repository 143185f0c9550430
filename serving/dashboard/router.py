"""``GET /dashboard`` and its assets, under a Content-Security-Policy that allows only 'self'.

The page and its assets are read once from the package (``importlib.resources``) and served
from a fixed list of names: no path from the URL ever reaches the file system. No route
here needs a credential: the page holds no data; it asks the ``/v1`` API, with the key the
operator types in, from the browser.
"""

from __future__ import annotations

from functools import cache
from importlib.resources import files

from fastapi import APIRouter
from fastapi.responses import HTMLResponse, Response

from data.errors import NotFoundError

#: Scripts, styles, images and requests only from this origin; no plugins, no framing, no <base>.
CONTENT_SECURITY_POLICY = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
                           "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}
#: Every asset the page loads, with its media type.
ASSETS = {
    "dashboard.js": "text/javascript; charset=utf-8",
    "dashboard.css": "text/css; charset=utf-8",
    "favicon.svg": "image/svg+xml",
}

router = APIRouter(tags=["dashboard"])


@cache
def _static(name: str) -> bytes:
    return (files("serving.dashboard") / "static" / name).read_bytes()


@router.get("/dashboard", response_class=HTMLResponse, summary="The operators' dashboard (an HTML page)",
            description="Forecast chart, issue details, open alerts and the batch view; it reads this API from the "
                        "browser and asks for an API key when authentication is on.")
async def dashboard() -> HTMLResponse:
    return HTMLResponse(_static("index.html"), headers=SECURITY_HEADERS)


@router.get("/dashboard/static/{name}", include_in_schema=False)
async def asset(name: str) -> Response:
    if name not in ASSETS:
        raise NotFoundError(f"no dashboard asset named {name!r}")
    return Response(_static(name), media_type=ASSETS[name], headers=SECURITY_HEADERS)
