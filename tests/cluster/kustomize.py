"""A small kustomize renderer for the test suite: exactly what the files in cluster/ use.

The suite validates what `kubectl kustomize cluster/overlays/<env>` would apply. A machine
with kubectl (kustomize v5 built in) renders it for real; `test_overlays.py` then checks
this renderer gives the same objects. Without kubectl (a fresh clone), this renderer alone
lets the suite validate every overlay. It supports the fields cluster/ uses and refuses any
other, so a kustomization that grows a feature this does not know fails loudly here
instead of being rendered wrongly:

- ``resources``: YAML files, and folders holding a ``kustomization.yaml`` (built first);
- ``components``: folders holding a ``kind: Component`` kustomization, applied to what the
  including kustomization has accumulated, before its own transformers;
- ``namespace``: set on every object but cluster-scoped ones;
- ``labels``: ``pairs`` added to ``metadata.labels`` (``includeSelectors`` and
  ``includeTemplates`` are refused);
- ``images``: ``name`` with ``newName`` / ``newTag`` / ``digest``, applied, as kustomize's
  image transformer does, to the ``image`` of every element of any ``containers`` or
  ``initContainers`` list anywhere in an object (so RayCluster pod templates too);
- ``patches``: a ``path`` or inline ``patch`` with a ``target`` (kind, name, optionally
  group, version, namespace) holding an RFC 6902 JSON patch (ops add, remove, replace, test).

Like kustomize, a folder may not use a resource outside itself except through another
kustomization folder, and a kustomization may not use a folder above it (a cycle).
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml

KUSTOMIZATION_FILES = ("kustomization.yaml", "kustomization.yml", "Kustomization")
KNOWN_FIELDS = {"apiVersion", "kind", "resources", "components", "namespace", "labels", "images", "patches"}
#: Kinds without a namespace that cluster/ could hold (kustomize knows more).
CLUSTER_SCOPED_KINDS = {
    "Namespace",
    "CustomResourceDefinition",
    "ClusterRole",
    "ClusterRoleBinding",
    "PersistentVolume",
    "StorageClass",
    "IngressClass",
    "PriorityClass",
}
_IMAGE_LISTS = ("containers", "initContainers")


class KustomizeError(ValueError):
    """The kustomization uses something this renderer does not support, or is wrong."""


def build(folder: Path) -> list[dict[str, Any]]:
    """The objects `kustomize build folder` prints, in the order they were accumulated."""
    return _build(Path(folder).resolve(), expect_kind="Kustomization", visited=())


def _kustomization_file(folder: Path) -> Path:
    for name in KUSTOMIZATION_FILES:
        if (folder / name).is_file():
            return folder / name
    raise KustomizeError(f"{folder}: no kustomization.yaml")


def _build(folder: Path, expect_kind: str, visited: tuple[Path, ...]) -> list[dict[str, Any]]:
    for root in visited:
        if root.is_relative_to(folder):
            raise KustomizeError(f"cycle detected: candidate root '{folder}' contains visited root '{root}'")
    spec = yaml.safe_load(_kustomization_file(folder).read_text(encoding="utf-8")) or {}
    unknown = set(spec) - KNOWN_FIELDS
    if unknown:
        raise KustomizeError(f"{folder}: fields this renderer does not support: {sorted(unknown)}")
    kind = spec.get("kind", "Kustomization")
    if kind != expect_kind:
        raise KustomizeError(f"{folder}: kind {kind}, expected {expect_kind}")
    visited = (*visited, folder)
    objects = _accumulate(folder, spec.get("resources", []), visited)
    for entry in spec.get("components", []):
        component = (folder / entry).resolve()
        if not component.is_dir():
            raise KustomizeError(f"{folder}: component {entry} is not a folder")
        objects = _transform(component, _component_spec(component, visited), objects)
    return _transform(folder, spec, objects)


def _component_spec(folder: Path, visited: tuple[Path, ...]) -> dict[str, Any]:
    spec = yaml.safe_load(_kustomization_file(folder).read_text(encoding="utf-8")) or {}
    if spec.get("kind") != "Component" or spec.get("apiVersion") != "kustomize.config.k8s.io/v1alpha1":
        raise KustomizeError(f"{folder}: a component is kind Component, apiVersion kustomize.config.k8s.io/v1alpha1")
    unknown = set(spec) - (KNOWN_FIELDS - {"components"})
    if unknown:
        raise KustomizeError(f"{folder}: fields this renderer does not support: {sorted(unknown)}")
    if spec.get("resources"):
        raise KustomizeError(f"{folder}: components with resources are not supported")
    return spec


def _accumulate(folder: Path, entries: list[str], visited: tuple[Path, ...]) -> list[dict[str, Any]]:
    objects: list[dict[str, Any]] = []
    for entry in entries:
        target = (folder / entry).resolve()
        if target.is_dir():
            objects.extend(_build(target, "Kustomization", visited))
        elif target.is_file():
            if not target.is_relative_to(folder):
                raise KustomizeError(f"security; file '{target}' is not in or below '{folder}'")
            with target.open(encoding="utf-8") as handle:
                objects.extend(doc for doc in yaml.safe_load_all(handle) if doc is not None)
        else:
            raise KustomizeError(f"{folder}: resource {entry} does not exist")
    seen: set[tuple[str, str, str | None, str]] = set()
    for obj in objects:
        key = _identity(obj)
        if key in seen:
            raise KustomizeError(f"{folder}: {key} is listed twice")
        seen.add(key)
    return objects


def _identity(obj: dict[str, Any]) -> tuple[str, str, str | None, str]:
    meta = obj.get("metadata", {})
    return (obj.get("apiVersion", ""), obj.get("kind", ""), meta.get("namespace"), meta.get("name", ""))


def _transform(folder: Path, spec: dict[str, Any], objects: list[dict[str, Any]]) -> list[dict[str, Any]]:
    objects = copy.deepcopy(objects)
    for patch in spec.get("patches", []):
        _apply_patch(folder, patch, objects)
    if "namespace" in spec:
        for obj in objects:
            if obj.get("kind") not in CLUSTER_SCOPED_KINDS:
                obj.setdefault("metadata", {})["namespace"] = spec["namespace"]
    for entry in spec.get("labels", []):
        extra = set(entry) - {"pairs"}
        if extra:
            raise KustomizeError(f"{folder}: labels options not supported: {sorted(extra)}")
        for obj in objects:
            obj.setdefault("metadata", {}).setdefault("labels", {}).update(entry["pairs"])
    for image in spec.get("images", []):
        extra = set(image) - {"name", "newName", "newTag", "digest"}
        if extra:
            raise KustomizeError(f"{folder}: image options not supported: {sorted(extra)}")
        for obj in objects:
            _set_images(obj, image)
    return objects


def split_image(image: str) -> tuple[str, str]:
    """``(name, tag-or-digest part)``: ``"a/b:1"`` -> ``("a/b", ":1")``; ``"a@sha256:x"`` -> ``("a", "@sha256:x")``."""
    if "@" in image:
        name, _, digest = image.partition("@")
        return name, "@" + digest
    slash = image.rfind("/")
    colon = image.rfind(":")
    if colon > slash:
        return image[:colon], image[colon:]
    return image, ""


def _set_images(node: Any, image: dict[str, str]) -> None:
    if isinstance(node, list):
        for item in node:
            _set_images(item, image)
        return
    if not isinstance(node, dict):
        return
    for key, value in node.items():
        if key in _IMAGE_LISTS and isinstance(value, list):
            for container in value:
                if isinstance(container, dict) and isinstance(container.get("image"), str):
                    container["image"] = _new_image(container["image"], image)
        _set_images(value, image)


def _new_image(current: str, image: dict[str, str]) -> str:
    name, suffix = split_image(current)
    if name != image["name"]:
        return current
    name = image.get("newName", name)
    if "digest" in image:
        suffix = "@" + image["digest"]
    elif "newTag" in image:
        suffix = ":" + str(image["newTag"])
    return name + suffix


def _apply_patch(folder: Path, patch: dict[str, Any], objects: list[dict[str, Any]]) -> None:
    extra = set(patch) - {"path", "patch", "target"}
    if extra or "target" not in patch or ("path" in patch) == ("patch" in patch):
        raise KustomizeError(f"{folder}: a patch needs a target and one of path / patch: {patch}")
    if "path" in patch:
        source = (folder / patch["path"]).resolve()
        if not source.is_relative_to(folder):
            raise KustomizeError(f"security; file '{source}' is not in or below '{folder}'")
        text = source.read_text(encoding="utf-8")
    else:
        text = patch["patch"]
    operations = yaml.safe_load(text)
    if not isinstance(operations, list):
        raise KustomizeError(f"{folder}: only JSON 6902 patches (a list of operations) are supported")
    target = patch["target"]
    unknown = set(target) - {"group", "version", "kind", "name", "namespace"}
    if unknown:
        raise KustomizeError(f"{folder}: target selectors not supported: {sorted(unknown)}")
    matched = [obj for obj in objects if _matches(obj, target)]
    if not matched:
        raise KustomizeError(f"{folder}: no resource matches the patch target {target}")
    for obj in matched:
        for operation in operations:
            json_patch(obj, operation)


def _matches(obj: dict[str, Any], target: dict[str, str]) -> bool:
    group, _, version = obj.get("apiVersion", "").rpartition("/")
    meta = obj.get("metadata", {})
    wanted = {"group": group, "version": version, "kind": obj.get("kind"), "name": meta.get("name"), "namespace": meta.get("namespace")}
    return all(wanted[key] == value for key, value in target.items())


def _pointer(path: str) -> list[str]:
    if not path.startswith("/"):
        raise KustomizeError(f"JSON pointer {path!r} does not start with '/'")
    return [part.replace("~1", "/").replace("~0", "~") for part in path[1:].split("/")]


def _index(container: list[Any], part: str, path: str, allow_end: bool = False) -> int:
    if allow_end and part == "-":
        return len(container)
    if not part.isdigit():
        raise KustomizeError(f"{path}: {part!r} is not a list index")
    index = int(part)
    if index >= len(container) + (1 if allow_end else 0):
        raise KustomizeError(f"{path}: index {index} is out of range")
    return index


def json_patch(document: dict[str, Any], operation: dict[str, Any]) -> None:
    """Apply one RFC 6902 operation (add, remove, replace, test) to ``document`` in place."""
    op, path = operation.get("op"), operation.get("path", "")
    if op not in {"add", "remove", "replace", "test"}:
        raise KustomizeError(f"JSON patch op {op!r} is not supported")
    parts = _pointer(path)
    parent: Any = document
    for part in parts[:-1]:
        if isinstance(parent, list):
            parent = parent[_index(parent, part, path)]
        elif isinstance(parent, dict) and part in parent:
            parent = parent[part]
        else:
            raise KustomizeError(f"{path}: {part!r} does not exist")
    last = parts[-1]
    if isinstance(parent, list):
        index = _index(parent, last, path, allow_end=op == "add")
        if op == "add":
            parent.insert(index, copy.deepcopy(operation["value"]))
        elif op == "remove":
            del parent[index]
        elif op == "replace":
            parent[index] = copy.deepcopy(operation["value"])
        elif parent[index] != operation["value"]:
            raise KustomizeError(f"test failed: {path} is {parent[index]!r}, not {operation['value']!r}")
        return
    if not isinstance(parent, dict):
        raise KustomizeError(f"{path}: the parent is neither an object nor a list")
    if op == "add":
        parent[last] = copy.deepcopy(operation["value"])
        return
    if last not in parent:
        raise KustomizeError(f"{path}: {last!r} does not exist")
    if op == "remove":
        del parent[last]
    elif op == "replace":
        parent[last] = copy.deepcopy(operation["value"])
    elif parent[last] != operation["value"]:
        raise KustomizeError(f"test failed: {path} is {parent[last]!r}, not {operation['value']!r}")
