"""The operators' dashboard: one static page (HTML, JavaScript, CSS, an icon) that reads the
``/v1`` API from the browser and draws its chart as SVG itself.

The files live in ``static/`` (package data, so an installed wheel serves them) and are
served by ``router`` on the same FastAPI app as the API, so the in-process app and the
Serve ingress both have it. Nothing on the page comes from another origin.
"""

from serving.dashboard.router import router

__all__ = ["router"]
