"""docs/api_reference.md is what docs/gen_api_reference.py renders from the app's OpenAPI
schema: a route, field or status code that changes makes this test fail until the doc is
regenerated (``python docs/gen_api_reference.py``)."""

from __future__ import annotations

from pathlib import Path
from types import ModuleType

from doc_generators import load_generator

REPO_ROOT = Path(__file__).resolve().parents[2]
DOC = REPO_ROOT / "docs" / "api_reference.md"


def _generator() -> ModuleType:
    return load_generator("gen_api_reference")


def test_api_reference_is_current() -> None:
    assert _generator().generate() == DOC.read_text(encoding="utf-8"), (
        "docs/api_reference.md is out of date: run `python docs/gen_api_reference.py`"
    )


def test_every_route_is_listed_with_its_role() -> None:
    generator = _generator()
    app = generator.build_app()
    schema, roles = app.openapi(), generator.route_roles(app)
    text = DOC.read_text(encoding="utf-8")
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            assert f"### `{method.upper()} {path}`" in text
    assert roles[schema["paths"]["/v1/forecast"]["post"]["operationId"]] == "forecaster"
    assert roles[schema["paths"]["/v1/keys"]["get"]["operationId"]] == "admin"
    assert roles[schema["paths"]["/healthz"]["get"]["operationId"]] == "none"


def test_the_check_can_fail() -> None:
    """A schema with one more field renders differently, so a stale doc is caught."""
    generator = _generator()
    app = generator.build_app()
    schema, roles = app.openapi(), generator.route_roles(app)
    before = generator.render(schema, roles)
    schema["components"]["schemas"]["ForecastRequest"]["properties"]["extra"] = {"type": "string"}
    assert generator.render(schema, roles) != before
