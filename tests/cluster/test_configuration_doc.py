"""docs/configuration.md lists every setting of PlatformSettings with its EFP_ variable,
as generated from the model (docs/gen_configuration.py)."""

from __future__ import annotations

from pathlib import Path
from types import ModuleType

from data.settings import PlatformSettings

from doc_generators import load_generator

REPO_ROOT = Path(__file__).resolve().parents[2]
DOC = REPO_ROOT / "docs" / "configuration.md"


def _generator() -> ModuleType:
    return load_generator("gen_configuration")


def test_settings_table_is_current() -> None:
    text = DOC.read_text(encoding="utf-8")
    assert _generator().render(text, only={"settings"}) == text, (
        "docs/configuration.md settings table is out of date: run `python docs/gen_configuration.py`"
    )


def test_every_setting_and_nested_key_has_its_variable_in_the_doc() -> None:
    text = DOC.read_text(encoding="utf-8")
    for name, field in PlatformSettings.model_fields.items():
        section = field.annotation if isinstance(field.annotation, type) else None
        nested = getattr(section, "model_fields", None)
        keys = [f"{name}__{sub}" for sub in nested] if nested else [name]
        for key in keys:
            assert f"`EFP_{key.upper()}`" in text, f"EFP_{key.upper()} missing from docs/configuration.md"


def test_generator_sees_a_changed_setting() -> None:
    """The check above can fail: a doc whose table lost a row is regenerated differently."""
    text = DOC.read_text(encoding="utf-8")
    broken = "\n".join(line for line in text.splitlines() if "`EFP_REDIS_PREFIX`" not in line) + "\n"
    assert _generator().render(broken, only={"settings"}) != broken
