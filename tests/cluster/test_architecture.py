"""The import rules docs/architecture.md states hold for every module: serving -> training
-> data, ray_apps on top, and no Ray Serve below serving."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
#: layer -> top-level packages (or dotted modules) it must not import.
FORBIDDEN = {
    "data": ("training", "serving", "ray_apps", "ray.serve"),
    "training": ("serving", "ray_apps", "ray.serve"),
    "serving": ("ray_apps",),
}


def _imports(path: Path) -> list[tuple[int, str]]:
    """(line, module) of every absolute import in the file, including those inside functions."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.lineno, node.module))
            found.extend((node.lineno, f"{node.module}.{alias.name}") for alias in node.names)
    return found


def _breaks(module: str, forbidden: tuple[str, ...]) -> bool:
    return any(module == banned or module.startswith(banned + ".") for banned in forbidden)


@pytest.mark.parametrize("layer", sorted(FORBIDDEN))
def test_layer_imports_point_one_way(layer: str) -> None:
    files = sorted((REPO_ROOT / layer).rglob("*.py"))
    assert files, f"no modules under {layer}/"
    broken = [
        f"{path.relative_to(REPO_ROOT)}:{line} imports {module}"
        for path in files
        for line, module in _imports(path)
        if _breaks(module, FORBIDDEN[layer])
    ]
    assert not broken, "imports against the layer order (docs/architecture.md):\n" + "\n".join(broken)


def test_rule_checker_sees_a_wrong_import(tmp_path: Path) -> None:
    module = tmp_path / "bad.py"
    module.write_text("def f():\n    from serving.app import build_app\n    from ray import serve\n", encoding="utf-8")
    modules = [name for _, name in _imports(module)]
    assert _breaks(modules[0], FORBIDDEN["training"])
    assert any(_breaks(name, FORBIDDEN["data"]) for name in modules if name.startswith("ray"))
