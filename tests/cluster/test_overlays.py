"""The dev and prod overlays (and the RayJobs) render to valid KubeRay objects, with the
environment's sizes, and the one image setting in cluster/image decides every image.

Rendering uses tests/cluster/kustomize.py; where kubectl with kustomize v5 is on PATH the
same folders are also rendered by `kubectl kustomize` and both must give the same objects.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tomllib
from functools import lru_cache
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

import kustomize
from k8s_schemas import CORE_SCHEMAS
from kuberay_schema import CLUSTER_DIR, CRD_FILES, REPO_ROOT, load_crd_schema, ray_cluster_specs, ray_containers, schema_errors

RENDERED = ("overlays/dev", "overlays/prod", "jobs")
IMAGE_NAME = "energy-forecast-platform"
CORE_KINDS = {
    ("v1", "ConfigMap"),
    ("v1", "Namespace"),
    ("v1", "PersistentVolumeClaim"),
    ("networking.k8s.io/v1", "Ingress"),
}
#: The fields of networking.k8s.io/v1 Ingress that the overlays may use, closed like the CRDs.
INGRESS_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["apiVersion", "kind", "metadata", "spec"],
    "properties": {
        "apiVersion": {"const": "networking.k8s.io/v1"},
        "kind": {"const": "Ingress"},
        "metadata": {"type": "object"},
        "spec": {
            "type": "object",
            "additionalProperties": False,
            "required": ["rules"],
            "properties": {
                "ingressClassName": {"type": "string"},
                "tls": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "additionalProperties": False,
                        "required": ["secretName"],
                        "properties": {"secretName": {"type": "string"}, "hosts": {"type": "array", "items": {"type": "string"}}},
                    },
                },
                "rules": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "additionalProperties": False,
                        "properties": {
                            "host": {"type": "string"},
                            "http": {
                                "type": "object",
                                "additionalProperties": False,
                                "required": ["paths"],
                                "properties": {
                                    "paths": {
                                        "type": "array",
                                        "items": {
                                            "type": "object",
                                            "additionalProperties": False,
                                            "required": ["path", "pathType", "backend"],
                                            "properties": {
                                                "path": {"type": "string"},
                                                "pathType": {"enum": ["Exact", "Prefix", "ImplementationSpecific"]},
                                                "backend": {
                                                    "type": "object",
                                                    "additionalProperties": False,
                                                    "required": ["service"],
                                                    "properties": {
                                                        "service": {
                                                            "type": "object",
                                                            "additionalProperties": False,
                                                            "required": ["name", "port"],
                                                            "properties": {
                                                                "name": {"type": "string"},
                                                                "port": {
                                                                    "type": "object",
                                                                    "additionalProperties": False,
                                                                    "properties": {"number": {"type": "integer"}, "name": {"type": "string"}},
                                                                },
                                                            },
                                                        }
                                                    },
                                                },
                                            },
                                        },
                                    }
                                },
                            },
                        },
                    },
                },
            },
        },
    },
}


def _version() -> str:
    with (REPO_ROOT / "pyproject.toml").open("rb") as handle:
        return tomllib.load(handle)["project"]["version"]


@lru_cache(maxsize=1)
def _kubectl_kustomize() -> bool:
    """kubectl on PATH with kustomize v5 built in (older ones lack `labels:` and components)."""
    if shutil.which("kubectl") is None:
        return False
    result = subprocess.run(["kubectl", "version", "--client"], capture_output=True, text=True, timeout=60)
    found = re.search(r"Kustomize Version: v(\d+)", result.stdout)
    return result.returncode == 0 and found is not None and int(found[1]) >= 5


def _kubectl_build(folder: Path) -> list[dict[str, Any]]:
    result = subprocess.run(["kubectl", "kustomize", str(folder)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc is not None]


def _by_identity(objects: list[dict[str, Any]]) -> dict[tuple[str, str, str], dict[str, Any]]:
    return {(obj["kind"], obj["metadata"].get("namespace", ""), obj["metadata"]["name"]): obj for obj in objects}


@lru_cache(maxsize=8)
def _rendered(folder: str) -> tuple[dict[str, Any], ...]:
    return tuple(kustomize.build(CLUSTER_DIR / folder))


def _one(folder: str, kind: str, name: str | None = None) -> dict[str, Any]:
    found = [obj for obj in _rendered(folder) if obj["kind"] == kind and name in (None, obj["metadata"]["name"])]
    assert len(found) == 1, f"{folder}: {len(found)} {kind} {name or ''}"
    return found[0]


def _groups(spec: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {group["groupName"]: group for group in spec["workerGroupSpecs"]}


def _gpus(container: dict[str, Any]) -> int:
    return int(container.get("resources", {}).get("limits", {}).get("nvidia.com/gpu", 0))


def _cpus(value: str | int | float) -> float:
    text = str(value)
    return float(text[:-1]) / 1000 if text.endswith("m") else float(text)


def _images(objects: list[dict[str, Any]] | tuple[dict[str, Any], ...]) -> list[tuple[str, str, int]]:
    """(object name, image, GPUs) for every container of every pod template and submitter."""
    found = []
    for obj in objects:
        if obj["kind"] not in CRD_FILES:
            continue
        for _, container in ray_containers(obj):
            found.append((obj["metadata"]["name"], container["image"], _gpus(container)))
        submitter = obj["spec"].get("submitterPodTemplate")
        if submitter:
            for container in submitter["spec"]["containers"]:
                found.append((obj["metadata"]["name"], container["image"], _gpus(container)))
    return found


@pytest.fixture(scope="module")
def validators() -> dict[str, jsonschema.protocols.Validator]:
    built = {kind: jsonschema.Draft4Validator(load_crd_schema(kind)) for kind in CRD_FILES}
    built["Ingress"] = jsonschema.Draft4Validator(INGRESS_SCHEMA)
    return built


# --- the renderer itself -------------------------------------------------------------


def test_renderer_matches_kubectl_kustomize() -> None:
    if not _kubectl_kustomize():
        pytest.skip("kubectl with kustomize v5 is not on PATH; the overlays are rendered by tests/cluster/kustomize.py only")
    for folder in (*RENDERED, "base"):
        ours = _by_identity(list(_rendered(folder)))
        theirs = _by_identity(_kubectl_build(CLUSTER_DIR / folder))
        assert ours.keys() == theirs.keys(), folder
        differing = sorted(str(key) for key in ours if ours[key] != theirs[key])
        assert not differing, f"{folder}: tests/cluster/kustomize.py differs from kubectl kustomize on {differing}"


def test_split_image() -> None:
    assert kustomize.split_image("energy-forecast-platform:0.1.0-gpu") == ("energy-forecast-platform", ":0.1.0-gpu")
    assert kustomize.split_image("localhost:5000/efp:1") == ("localhost:5000/efp", ":1")
    assert kustomize.split_image("localhost:5000/efp") == ("localhost:5000/efp", "")
    assert kustomize.split_image("efp@sha256:abc") == ("efp", "@sha256:abc")


def _write(folder: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(text, encoding="utf-8")
    return folder


POD = """apiVersion: ray.io/v1
kind: RayCluster
metadata: {name: c}
spec:
  headGroupSpec:
    template:
      spec:
        initContainers: [{name: init, image: "efp:1"}]
        containers: [{name: ray-head, image: "efp:1"}, {name: side, image: "other:1"}]
  workerGroupSpecs:
    - groupName: cpu
      replicas: 1
"""


def test_renderer_images_patches_namespace_labels(tmp_path: Path) -> None:
    root = _write(
        tmp_path,
        {
            "base/c.yaml": POD,
            "base/kustomization.yaml": "resources: [c.yaml]\nnamespace: n\ncomponents: [../img]\n",
            "img/kustomization.yaml": "apiVersion: kustomize.config.k8s.io/v1alpha1\nkind: Component\n"
            "images: [{name: efp, newName: reg.test/efp}]\n",
            "over/p.yaml": "- {op: test, path: /spec/workerGroupSpecs/0/groupName, value: cpu}\n"
            "- {op: replace, path: /spec/workerGroupSpecs/0/replicas, value: 3}\n",
            "over/kustomization.yaml": "resources: [../base]\nlabels: [{pairs: {env: x}}]\n"
            "patches: [{path: p.yaml, target: {kind: RayCluster, name: c}}]\n",
        },
    )
    (cluster,) = kustomize.build(root / "over")
    pod = cluster["spec"]["headGroupSpec"]["template"]["spec"]
    assert [c["image"] for c in pod["initContainers"] + pod["containers"]] == ["reg.test/efp:1", "reg.test/efp:1", "other:1"]
    assert cluster["spec"]["workerGroupSpecs"][0]["replicas"] == 3
    assert cluster["metadata"] == {"name": "c", "namespace": "n", "labels": {"env": "x"}}


def test_renderer_refuses_what_kustomize_refuses_or_it_does_not_know(tmp_path: Path) -> None:
    root = _write(
        tmp_path,
        {
            "c.yaml": POD,
            "kustomization.yaml": "resources: [c.yaml]\n",
            "bad/kustomization.yaml": "resources: [../c.yaml]\n",
            "cycle/kustomization.yaml": "resources: [..]\n",
            "unknown/kustomization.yaml": "resources: [..]\nreplicas: [{name: c, count: 2}]\n",
            "wrong/p.yaml": "- {op: test, path: /spec/workerGroupSpecs/0/groupName, value: gpu}\n",
            "wrong/kustomization.yaml": "resources: [../c.yaml]\npatches: [{path: p.yaml, target: {kind: RayCluster}}]\n",
        },
    )
    for folder, message in [
        ("bad", "is not in or below"),
        ("cycle", "cycle detected"),
        ("unknown", "does not support"),
    ]:
        with pytest.raises(kustomize.KustomizeError, match=message):
            kustomize.build(root / folder)
    document = yaml.safe_load(POD)
    with pytest.raises(kustomize.KustomizeError, match="test failed"):
        kustomize.json_patch(document, {"op": "test", "path": "/spec/workerGroupSpecs/0/groupName", "value": "gpu"})
    kustomize.json_patch(document, {"op": "add", "path": "/spec/workerGroupSpecs/-", "value": {"groupName": "gpu"}})
    kustomize.json_patch(document, {"op": "remove", "path": "/spec/workerGroupSpecs/0"})
    assert document["spec"]["workerGroupSpecs"] == [{"groupName": "gpu"}]


# --- the overlays ----------------------------------------------------------------------


@pytest.mark.parametrize("folder", RENDERED)
def test_rendered_objects_are_valid_for_their_schemas(folder: str, validators: dict[str, Any]) -> None:
    objects = _rendered(folder)
    assert objects, f"cluster/{folder} renders nothing"
    for obj in objects:
        name = f"{folder}: {obj['kind']} {obj['metadata']['name']}"
        assert obj["metadata"].get("namespace") == "efp" or obj["kind"] == "Namespace", name
        assert obj["metadata"]["labels"]["app.kubernetes.io/part-of"] == "energy-forecast-platform", name
        if obj["kind"] in CRD_FILES:
            errors = schema_errors(validators[obj["kind"]], obj)
        elif obj["kind"] == "Ingress":
            errors = schema_errors(validators["Ingress"], obj)
        elif (obj["apiVersion"], obj["kind"]) in CORE_SCHEMAS:
            errors = schema_errors(jsonschema.Draft7Validator(CORE_SCHEMAS[obj["apiVersion"], obj["kind"]]), obj)
        else:
            assert (obj["apiVersion"], obj["kind"]) in CORE_KINDS, name
            errors = []
        assert not errors, f"{name}:\n" + "\n".join(errors)


@pytest.mark.parametrize("folder", RENDERED)
def test_worker_groups_keep_their_bounds_and_serve_fits(folder: str) -> None:
    for obj in _rendered(folder):
        if obj["kind"] not in CRD_FILES:
            continue
        for spec in ray_cluster_specs(obj):
            for group in spec["workerGroupSpecs"]:
                where = f"{folder}: {obj['metadata']['name']} {group['groupName']}"
                assert group["minReplicas"] <= group["replicas"] <= group["maxReplicas"], where
                resources = group["template"]["spec"]["containers"][0]["resources"]
                assert resources["requests"] == resources["limits"], where
        if obj["kind"] == "RayService":
            config = yaml.safe_load(obj["spec"]["serveConfigV2"])
            demand = sum(
                (d.get("num_replicas") or d.get("autoscaling_config", {}).get("max_replicas", 1))
                * d.get("ray_actor_options", {}).get("num_cpus", 1.0)
                for application in config["applications"]
                for d in application.get("deployments", [])
            )
            capacity = sum(
                g["maxReplicas"] * _cpus(g["template"]["spec"]["containers"][0]["resources"]["limits"]["cpu"])
                for g in obj["spec"]["rayClusterConfig"]["workerGroupSpecs"]
            )
            assert 0 < demand <= capacity, f"{folder}: Serve may ask for {demand:g} CPUs, the workers offer {capacity:g}"


def test_prod_has_redundant_serving_a_tls_ingress_and_gpu_workers() -> None:
    service = _one("overlays/prod", "RayService", "efp-forecast")
    serve = _groups(service["spec"]["rayClusterConfig"])["serve"]
    assert serve["replicas"] >= 2 and serve["minReplicas"] >= 2 and serve["maxReplicas"] > serve["minReplicas"]

    ingress = _one("overlays/prod", "Ingress", "efp-forecast")
    assert ingress["spec"]["tls"] == [{"secretName": "efp-forecast-tls"}]
    serve_service = service["spec"]["serveService"]
    (path,) = [p for rule in ingress["spec"]["rules"] for p in rule["http"]["paths"]]
    assert path["path"] == "/" and path["pathType"] == "Prefix"
    assert path["backend"]["service"] == {
        "name": serve_service["metadata"]["name"],
        "port": {"number": serve_service["spec"]["ports"][0]["port"]},
    }

    groups = _groups(_one("overlays/prod", "RayCluster", "efp")["spec"])
    assert set(groups) == {"cpu", "gpu"}
    gpu_container = groups["gpu"]["template"]["spec"]["containers"][0]
    assert _gpus(gpu_container) >= 1 and groups["gpu"]["minReplicas"] == 0 and groups["gpu"]["maxReplicas"] >= 1
    assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in groups["gpu"]["template"]["spec"]["tolerations"]
    assert _gpus(groups["cpu"]["template"]["spec"]["containers"][0]) == 0


def test_prod_serves_production_config_with_two_replicas_on_the_request_path() -> None:
    """Losing one replica (or its pod) must never lose a hop of the request path."""
    from serving.config import deployment_names

    built = yaml.safe_load((REPO_ROOT / "configs/serve/app.prod.yaml").read_text(encoding="utf-8"))
    deployed = yaml.safe_load(_one("overlays/prod", "RayService", "efp-forecast")["spec"]["serveConfigV2"])
    assert deployed["applications"] == built["applications"], \
        "the prod overlay's serveConfigV2 differs from configs/serve/app.prod.yaml: run `python cluster/sync_serve_config.py`"
    (application,) = deployed["applications"]
    replicas = {d["name"]: d.get("num_replicas") or d.get("autoscaling_config", {}).get("min_replicas", 1)
                for d in application["deployments"]}
    assert set(replicas) == set(deployment_names())
    assert all(count >= 2 for count in replicas.values()), replicas
    dev = yaml.safe_load(_one("overlays/dev", "RayService")["spec"]["serveConfigV2"])
    assert dev["applications"][0]["import_path"] == "serving.app:app"


@pytest.mark.parametrize("folder", RENDERED)
def test_tls_is_a_secret_reference_never_a_committed_secret(folder: str) -> None:
    """The certificate is made in the cluster (kubectl or cert-manager); no manifest carries key material,
    and every host an Ingress answers is covered by one of its TLS entries."""
    objects = _rendered(folder)
    assert not [obj for obj in objects if obj["kind"] == "Secret"], f"{folder}: a Secret is committed"
    assert "PRIVATE KEY" not in yaml.safe_dump_all(objects)
    for ingress in (obj for obj in objects if obj["kind"] == "Ingress"):
        tls = ingress["spec"].get("tls") or []
        assert tls and all(entry.get("secretName") for entry in tls), f"{folder}: Ingress without a TLS secret"
        covered = {host for entry in tls for host in entry.get("hosts", [])}
        hosts = {rule["host"] for rule in ingress["spec"]["rules"] if "host" in rule}
        assert hosts <= covered, f"{folder}: hosts served without TLS: {sorted(hosts - covered)}"


def test_dev_is_smaller_than_prod_and_has_no_gpus_or_ingress() -> None:
    assert not [obj for obj in _rendered("overlays/dev") if obj["kind"] == "Ingress"]
    dev_cluster = _one("overlays/dev", "RayCluster", "efp")["spec"]
    prod_cluster = _one("overlays/prod", "RayCluster", "efp")["spec"]
    assert set(_groups(dev_cluster)) == {"cpu"}
    assert _groups(dev_cluster)["cpu"]["maxReplicas"] < _groups(prod_cluster)["cpu"]["maxReplicas"]
    dev_serve = _groups(_one("overlays/dev", "RayService")["spec"]["rayClusterConfig"])["serve"]
    prod_serve = _groups(_one("overlays/prod", "RayService")["spec"]["rayClusterConfig"])["serve"]
    assert dev_serve["maxReplicas"] < prod_serve["maxReplicas"]
    cpu = lambda group: _cpus(group["template"]["spec"]["containers"][0]["resources"]["limits"]["cpu"])  # noqa: E731
    assert cpu(dev_serve) < cpu(prod_serve)


@pytest.mark.parametrize("folder", RENDERED)
def test_images_are_the_setting_with_version_and_gpu_tags(folder: str) -> None:
    images = _images(_rendered(folder))
    assert images
    version = _version()
    for name, image, gpus in images:
        assert image == f"{IMAGE_NAME}:{version}{'-gpu' if gpus else ''}", f"{folder}: {name}"


def _with_image_setting(tmp_path: Path, new_name: str) -> Path:
    copy = tmp_path / "cluster"
    shutil.copytree(CLUSTER_DIR, copy, ignore=shutil.ignore_patterns("__pycache__"))
    setting = copy / "image" / "kustomization.yaml"
    text = setting.read_text(encoding="utf-8")
    changed = re.sub(r"(?m)^(\s*newName:\s*).*$", lambda m: m[1] + new_name, text)
    assert changed != text, "cluster/image/kustomization.yaml has no newName line"
    setting.write_text(changed, encoding="utf-8")
    return copy


def test_changing_the_one_image_setting_changes_every_image(tmp_path: Path) -> None:
    new_name = "registry.test:5000/grid/efp"
    copy = _with_image_setting(tmp_path, new_name)
    renderers = [("tests/cluster/kustomize.py", kustomize.build)]
    if _kubectl_kustomize():
        renderers.append(("kubectl kustomize", _kubectl_build))
    version = _version()
    for label, render in renderers:
        for folder in RENDERED:
            images = _images(render(copy / folder))
            assert images, f"{label} {folder}"
            for name, image, gpus in images:
                assert image == f"{new_name}:{version}{'-gpu' if gpus else ''}", f"{label} {folder}: {name}"
