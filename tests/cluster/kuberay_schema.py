"""Helpers of the offline KubeRay schema checks of the manifests in ``cluster/``.

The CRDs are vendored (gzip) under ``tests/fixtures/crds/`` so that a fresh clone needs no
network and no Kubernetes. Kubernetes prunes unknown fields of a custom resource without a
word, so a misspelt field would simply vanish; these helpers close every object schema
that does not say ``x-kubernetes-preserve-unknown-fields`` before validating.
"""

from __future__ import annotations

import gzip
from functools import lru_cache
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
CLUSTER_DIR = REPO_ROOT / "cluster"
#: The folders of manifests: the long-lived base the overlays start from, and the RayJobs.
MANIFEST_DIRS = (CLUSTER_DIR / "base", CLUSTER_DIR / "jobs")
CRD_DIR = REPO_ROOT / "tests" / "fixtures" / "crds"
#: Manifest kind -> vendored CRD file.
CRD_FILES = {
    "RayCluster": "ray.io_rayclusters.yaml.gz",
    "RayJob": "ray.io_rayjobs.yaml.gz",
    "RayService": "ray.io_rayservices.yaml.gz",
}
#: The CRDs leave ``metadata`` open (the API server checks ObjectMeta itself); this closed
#: subset is what our manifests may use, so a misspelt ``lables`` is caught as well.
OBJECT_META_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["name"],
    "properties": {
        "name": {"type": "string", "pattern": r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$", "maxLength": 63},
        "namespace": {"type": "string"},
        "labels": {"type": "object", "additionalProperties": {"type": "string"}},
        "annotations": {"type": "object", "additionalProperties": {"type": "string"}},
    },
}
#: libyaml's loader where installed: the three CRDs are 3.3 MB of YAML.
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_SUBSCHEMA_KEYS = ("items", "additionalProperties", "not")
_SCHEMA_LIST_KEYS = ("anyOf", "allOf", "oneOf")


def close_schema(node: dict[str, Any]) -> dict[str, Any]:
    """Copy of an openAPIV3Schema in which every object without
    ``x-kubernetes-preserve-unknown-fields`` refuses unknown properties."""
    node = dict(node)
    if "properties" in node:
        node["properties"] = {name: close_schema(sub) for name, sub in node["properties"].items()}
    for key in _SUBSCHEMA_KEYS:
        if isinstance(node.get(key), dict):
            node[key] = close_schema(node[key])
    for key in _SCHEMA_LIST_KEYS:
        if key in node:
            node[key] = [close_schema(sub) for sub in node[key]]
    if node.get("nullable") and isinstance(node.get("type"), str):
        node["type"] = [node["type"], "null"]
    if (
        node.get("type") == "object"
        and "additionalProperties" not in node
        and not node.get("x-kubernetes-preserve-unknown-fields")
    ):
        node["additionalProperties"] = False
    return node


def load_crd_schema(kind: str) -> dict[str, Any]:
    """The closed ``v1`` schema of one KubeRay kind."""
    with gzip.open(CRD_DIR / CRD_FILES[kind], "rt", encoding="utf-8") as handle:
        crd = yaml.load(handle, Loader=_LOADER)
    (version,) = [v for v in crd["spec"]["versions"] if v["name"] == "v1"]
    schema = close_schema(version["schema"]["openAPIV3Schema"])
    schema["properties"]["metadata"] = OBJECT_META_SCHEMA
    schema["required"] = sorted({*schema.get("required", []), "apiVersion", "kind", "metadata", "spec"})
    return schema


def schema_errors(validator: jsonschema.protocols.Validator, manifest: dict[str, Any]) -> list[str]:
    """Every violation as ``path: message``, sorted so that failures read the same each run."""
    errors = []
    for error in validator.iter_errors(manifest):
        path = ".".join(str(part) for part in error.absolute_path) or "<root>"
        errors.append(f"{path}: {error.message}")
    return sorted(errors)


def manifest_files() -> list[Path]:
    """Every Kubernetes manifest in cluster/base and cluster/jobs (kustomization.yaml is
    kustomize's, not the API's; the overlays' patches are checked rendered, test_overlays.py)."""
    return sorted(p for folder in MANIFEST_DIRS for p in folder.glob("*.yaml") if p.name != "kustomization.yaml")


def load_documents(path: Path) -> list[dict[str, Any]]:
    """The documents of one YAML file (parsed once per session; callers must not mutate)."""
    return _parse(path, path.stat().st_mtime_ns)


@lru_cache(maxsize=64)
def _parse(path: Path, _mtime_ns: int) -> list[dict[str, Any]]:
    with path.open(encoding="utf-8") as handle:
        return [doc for doc in yaml.load_all(handle, Loader=_LOADER) if doc is not None]


def all_manifests() -> Iterator[tuple[Path, dict[str, Any]]]:
    for path in manifest_files():
        for doc in load_documents(path):
            yield path, doc


def ray_cluster_specs(manifest: dict[str, Any]) -> list[dict[str, Any]]:
    """The RayCluster spec inside a RayCluster, RayJob or RayService."""
    spec = manifest["spec"]
    nested = {"RayCluster": spec, "RayJob": spec.get("rayClusterSpec"), "RayService": spec.get("rayClusterConfig")}
    found = nested.get(manifest["kind"])
    return [found] if found else []


def ray_containers(manifest: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """(group name, Ray container) pairs; KubeRay treats containers[0] as the Ray container."""
    pairs = []
    for cluster in ray_cluster_specs(manifest):
        pairs.append(("head", cluster["headGroupSpec"]["template"]["spec"]["containers"][0]))
        for group in cluster.get("workerGroupSpecs", []):
            pairs.append((group["groupName"], group["template"]["spec"]["containers"][0]))
    return pairs
