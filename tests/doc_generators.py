"""Load a generator script of docs/ (``docs/gen_*.py``, not a package) as a module, for the
tests that check a generated document is current."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

REPO_ROOT = Path(__file__).resolve().parent.parent


def load_generator(name: str) -> ModuleType:
    """``docs/<name>.py`` as a module named ``name``."""
    spec = importlib.util.spec_from_file_location(name, REPO_ROOT / "docs" / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
