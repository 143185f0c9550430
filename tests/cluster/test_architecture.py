"""The import rules docs/architecture.md states hold for every module: serving -> training
-> data, ray_apps on top, no Ray Serve below serving, and no import cycle anywhere.

Imports inside functions count (a lazy import is still a dependency, and a cycle hidden
in one is still a cycle); imports under ``if TYPE_CHECKING:`` do not, since they never run.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("data", "training", "serving", "ray_apps")
#: layer -> top-level packages (or dotted modules) it must not import.
FORBIDDEN = {
    "data": ("training", "serving", "ray_apps", "ray.serve"),
    "training": ("serving", "ray_apps", "ray.serve"),
    "serving": ("ray_apps",),
}


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _runtime_nodes(tree: ast.AST):
    """Every node that can run, skipping the bodies of ``if TYPE_CHECKING:``."""
    stack = [tree]
    while stack:
        node = stack.pop()
        yield node
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _is_type_checking(child):
                stack.extend(child.orelse)
                continue
            stack.append(child)


def _imports(path: Path, package: str = "") -> list[tuple[int, str]]:
    """(line, module) of every import in the file that runs, including those inside functions.

    ``from m import name`` yields ``m`` and ``m.name`` (the name may be a submodule);
    relative imports are resolved against ``package`` (the file's own package).
    """
    found = []
    for node in _runtime_nodes(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join([*base, node.module] if node.module else base)
            else:
                module = node.module or ""
            found.append((node.lineno, module))
            found.extend((node.lineno, f"{module}.{alias.name}") for alias in node.names)
    return sorted(found, key=lambda item: item[0])


def _breaks(module: str, forbidden: tuple[str, ...]) -> bool:
    return any(module == banned or module.startswith(banned + ".") for banned in forbidden)


def _modules(root: Path, packages: tuple[str, ...]) -> dict[str, Path]:
    """Dotted module name -> file for every module of ``packages`` under ``root``."""
    modules = {}
    for package in packages:
        for path in sorted((root / package).rglob("*.py")):
            parts = path.relative_to(root).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            modules[name] = path
    return modules


def import_graph(root: Path, packages: tuple[str, ...]) -> dict[str, dict[str, int]]:
    """module -> {imported project module: line}; ``from pkg import name`` points at ``pkg.name``
    when that is a module, else at ``pkg``."""
    modules = _modules(root, packages)
    graph: dict[str, dict[str, int]] = {}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        edges: dict[str, int] = {}
        for line, target in _imports(path, package):
            while target and target not in modules:
                target = target.rpartition(".")[0]
            if target and target != name:
                edges.setdefault(target, line)
        graph[name] = edges
    # ``from pkg import sub`` also yields ``pkg`` itself: drop that parent edge when the submodule is imported
    # on the same line (importing a submodule runs its package's __init__, which is not a dependency on it).
    for name, edges in graph.items():
        for target, line in list(edges.items()):
            if any(other.startswith(target + ".") and other_line == line for other, other_line in edges.items()):
                del edges[target]
    return graph


def find_cycles(graph: dict[str, dict[str, int]]) -> list[list[str]]:
    """Every strongly connected group of more than one module (Tarjan), each as a closed path."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []
    counter = [0]

    def visit(node: str) -> None:
        index[node] = low[node] = counter[0]
        counter[0] += 1
        stack.append(node)
        on_stack.add(node)
        for target in graph.get(node, {}):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                groups.append(_closed_path(graph, sorted(group)))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return groups


def _closed_path(graph: dict[str, dict[str, int]], group: list[str]) -> list[str]:
    """A path inside ``group`` from its first module back to itself (what a reader follows)."""
    members, start = set(group), group[0]
    paths = {start: [start]}
    queue = [start]
    while queue:
        node = queue.pop(0)
        for target in graph[node]:
            if target == start:
                return paths[node] + [start]
            if target in members and target not in paths:
                paths[target] = paths[node] + [target]
                queue.append(target)
    return group


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


def test_no_import_cycles() -> None:
    graph = import_graph(REPO_ROOT, PACKAGES)
    assert len(graph) > 100  # the whole code base was read
    cycles = find_cycles(graph)
    described = [" -> ".join(f"{a} (line {graph[a][b]})" for a, b in zip(c, c[1:])) + f" -> {c[-1]}" for c in cycles]
    assert not cycles, "import cycles (imports inside functions count):\n" + "\n".join(described)


def test_rule_checker_sees_a_wrong_import(tmp_path: Path) -> None:
    module = tmp_path / "bad.py"
    module.write_text("def f():\n    from serving.app import build_app\n    from ray import serve\n", encoding="utf-8")
    modules = [name for _, name in _imports(module)]
    assert _breaks(modules[0], FORBIDDEN["training"])
    assert any(_breaks(name, FORBIDDEN["data"]) for name in modules if name.startswith("ray"))


def test_cycle_checker_sees_a_cycle_through_a_function_level_import(tmp_path: Path) -> None:
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "__init__.py").write_text("", encoding="utf-8")
    (package / "a.py").write_text("from pkg.b import helper\n", encoding="utf-8")
    (package / "b.py").write_text("def helper():\n    from . import c\n", encoding="utf-8")
    (package / "c.py").write_text("import pkg.a\n", encoding="utf-8")
    (package / "d.py").write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from pkg import a\n", encoding="utf-8")
    (package / "e.py").write_text("from pkg import d\n", encoding="utf-8")
    graph = import_graph(tmp_path, ("pkg",))
    assert find_cycles(graph) == [["pkg.a", "pkg.b", "pkg.c", "pkg.a"]]
    assert "pkg.a" not in graph["pkg.d"]  # TYPE_CHECKING imports never run
    assert graph["pkg.e"] == {"pkg.d": 1}  # importing a submodule is not a dependency on its package
