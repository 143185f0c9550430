"""Regenerate the tables of docs/configuration.md from the pydantic models that read each file.

Each ``configs/*.yaml`` file is validated by a pydantic model (unknown keys refused), and
every platform setting is a field of ``PlatformSettings``. The tables in the doc are
written from those models, so they say what the code accepts, with the code's defaults
and ``description=`` texts. Prose around the tables is hand-written and kept.

    python docs/gen_configuration.py          # rewrite the tables in docs/configuration.md
    python docs/gen_configuration.py --check  # exit 1 when the doc is out of date

tests/cluster/test_configuration_doc.py runs the check for the settings table.
"""

from __future__ import annotations

import argparse
import importlib
import re
import sys
import types
import typing
from enum import Enum
from pathlib import Path
from typing import Any

from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

REPO_ROOT = Path(__file__).resolve().parent.parent
DOC = REPO_ROOT / "docs" / "configuration.md"
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

#: Marker name in the doc -> "module:Model" that validates that config file.
MODEL_TABLES = {
    "cities": "data.catalogue:City",
    "synthetic": "data.synthetic.profiles:SyntheticConfig",
    "validation": "data.validation.rules:ValidationRules",
    "training": "training.config:TrainConfig",
    "backtest": "training.backtest.config:BacktestConfig",
    "monitoring": "training.monitoring.config:MonitoringConfig",
    "tune": "training.tuning.space:TuneSpace",
    "serve": "serving.config:DeploymentsConfig",
}
_MARKERS = re.compile(r"(<!-- table:(?P<name>[\w-]+) -->\n)(.*?)(<!-- /table -->)", re.DOTALL)


def _type_name(annotation: Any) -> str:
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is typing.Annotated:
        return _type_name(args[0])
    if origin is typing.Literal:
        return " \\| ".join(str(arg) for arg in args)
    if origin in (typing.Union, types.UnionType):
        return " \\| ".join(_type_name(arg) for arg in args)
    if origin in (list, tuple, set):
        return f"list[{_type_name(args[0])}]" if args else "list"
    if origin is dict:
        return f"map of {_type_name(args[1])}" if args else "map"
    if annotation is type(None):
        return "null"
    if isinstance(annotation, type) and issubclass(annotation, Enum):
        return " \\| ".join(str(member.value) for member in annotation)
    return getattr(annotation, "__name__", str(annotation))


def _default(field: FieldInfo) -> str:
    if field.default_factory is not None:
        value = field.default_factory()
        return "" if isinstance(value, BaseModel) else f"`{value!r}`"
    if field.default is PydanticUndefined:
        return "required"
    value = field.default
    if value is None:
        return "`null`"
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if isinstance(value, Enum):
        value = value.value
    return f"`{value}`"


def _nested_models(annotation: Any) -> list[tuple[str, type[BaseModel]]]:
    """(key suffix, model) for fields that hold a model, a map of models or a list of them."""
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [("", annotation)]
    if origin is typing.Annotated:
        return _nested_models(args[0])
    if origin in (typing.Union, types.UnionType):
        return [found for arg in args for found in _nested_models(arg)]
    if origin is dict and args:
        return [(".<name>" + suffix, model) for suffix, model in _nested_models(args[1])]
    if origin in (list, tuple) and args:
        return [("[]" + suffix, model) for suffix, model in _nested_models(args[0])]
    return []


def rows(model: type[BaseModel], prefix: str = "") -> list[tuple[str, FieldInfo]]:
    """Every leaf key of ``model`` as (dotted key, field), nested models flattened."""
    found = []
    for name, field in model.model_fields.items():
        key = f"{prefix}{name}"
        nested = _nested_models(field.annotation)
        if not nested or typing.get_origin(field.annotation) in (typing.Union, types.UnionType):
            found.append((key, field))
        for suffix, sub in nested:
            found.extend(rows(sub, f"{key}{suffix}."))
    return found


def _cell(text: str | None) -> str:
    return (text or "").replace("|", "\\|").replace("\n", " ")


def settings_table() -> str:
    from data.settings import ENV_PREFIX, PlatformSettings

    lines = ["| key in `configs/platform.yaml` | environment variable | type | default | meaning |", "|---|---|---|---|---|"]
    for key, field in rows(PlatformSettings):
        env = ENV_PREFIX + key.upper().replace(".", "__")
        lines.append(f"| `{key}` | `{env}` | {_type_name(field.annotation)} | {_default(field)} | {_cell(field.description)} |")
    return "\n".join(lines) + "\n"


def model_table(target: str) -> str:
    module_name, _, class_name = target.partition(":")
    model = getattr(importlib.import_module(module_name), class_name)
    lines = ["| key | type | default | meaning |", "|---|---|---|---|"]
    for key, field in rows(model):
        lines.append(f"| `{key}` | {_type_name(field.annotation)} | {_default(field)} | {_cell(field.description)} |")
    return "\n".join(lines) + "\n"


def table(name: str) -> str:
    return settings_table() if name == "settings" else model_table(MODEL_TABLES[name])


def render(doc_text: str, only: set[str] | None = None) -> str:
    """``doc_text`` with every marked table (or only those named) regenerated."""
    def replace(match: re.Match[str]) -> str:
        if only is not None and match["name"] not in only:
            return match[0]
        return match[1] + table(match["name"]) + match[4]

    return _MARKERS.sub(replace, doc_text)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only report whether the doc is up to date")
    args = parser.parse_args(argv)
    current = DOC.read_text(encoding="utf-8")
    wanted = render(current)
    if wanted == current:
        print("docs/configuration.md is up to date")
        return 0
    if args.check:
        print("docs/configuration.md is out of date: run python docs/gen_configuration.py")
        return 1
    DOC.write_text(wanted, encoding="utf-8")
    print("docs/configuration.md tables regenerated")
    return 0


if __name__ == "__main__":
    sys.exit(main())
