"""The CronJob's script (cluster/jobs/cronjob-forecast-daily.yaml), run by bash with the real
kubectl against a Kubernetes API stand-in on loopback that serves the ray.io/v1 RayJob
resource: discovery, list by label, get, create (with ``generateName`` and strict field
validation against the vendored RayJob CRD) and delete. Each run creates one RayJob copied
from the suspended template, not suspended, under a new name; the newest seven are kept; a
run still going, or a template that is not suspended, stops the script with one line."""

from __future__ import annotations

import copy
import datetime as dt
import itertools
import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import jsonschema
import pytest
import yaml

from kuberay_schema import CLUSTER_DIR, load_crd_schema, load_documents, schema_errors
from loopback_http import send_json, serving

NAMESPACE = "efp"
COLLECTION = f"/apis/ray.io/v1/namespaces/{NAMESPACE}/rayjobs"
EPOCH = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)


class KubeAPI:
    """The RayJobs of one namespace, and every request made."""

    def __init__(self) -> None:
        self.objects: dict[str, dict[str, Any]] = {}
        self.requests: list[tuple[str, str]] = []
        self._serial = itertools.count()
        self.validator = jsonschema.Draft4Validator(load_crd_schema("RayJob"))

    def add(self, obj: dict[str, Any]) -> dict[str, Any]:
        serial = next(self._serial)
        obj["metadata"].update(namespace=NAMESPACE, uid=f"uid-{serial}",
                               creationTimestamp=(EPOCH + dt.timedelta(minutes=serial)).strftime("%Y-%m-%dT%H:%M:%SZ"))
        self.objects[obj["metadata"]["name"]] = obj
        return obj


def _handler(api: KubeAPI) -> type[BaseHTTPRequestHandler]:
    gvk = {"group": "ray.io", "version": "v1", "kind": "RayJob"}
    field_validation = {"parameters": [{"name": "fieldValidation", "in": "query", "schema": {"type": "string"}}],
                        "responses": {}, "x-kubernetes-group-version-kind": gvk}
    discovery = {
        "/api": {"kind": "APIVersions", "versions": ["v1"]},
        "/api/v1": {"kind": "APIResourceList", "groupVersion": "v1", "resources": []},
        "/apis": {"kind": "APIGroupList", "apiVersion": "v1", "groups": [{
            "name": "ray.io", "versions": [{"groupVersion": "ray.io/v1", "version": "v1"}],
            "preferredVersion": {"groupVersion": "ray.io/v1", "version": "v1"}}]},
        "/apis/ray.io/v1": {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": "ray.io/v1", "resources": [{
            "name": "rayjobs", "singularName": "rayjob", "namespaced": True, "kind": "RayJob",
            "verbs": ["create", "delete", "get", "list", "patch", "update", "watch"]}]},
        # Where kubectl learns that the server validates fields itself (fieldValidation=Strict).
        "/openapi/v3": {"paths": {"apis/ray.io/v1": {"serverRelativeURL": "/openapi/v3/apis/ray.io/v1?hash=1"}}},
        "/openapi/v3/apis/ray.io/v1": {"openapi": "3.0.0", "info": {"title": "Kubernetes", "version": "v1.31.0"},
                                       "paths": {f"{COLLECTION.replace(NAMESPACE, '{namespace}')}/{{name}}": {"patch": field_validation}},
                                       "components": {"schemas": {}}},
    }

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server's name)
            url = urlparse(self.path)
            api.requests.append(("GET", url.path))
            if url.path in discovery:
                self._send(200, discovery[url.path])
            elif url.path == COLLECTION:
                wanted = [term.split("=", 1) for term in parse_qs(url.query).get("labelSelector", [""])[0].split(",") if term]
                items = [o for o in api.objects.values() if all(o["metadata"].get("labels", {}).get(k) == v for k, v in wanted)]
                self._send(200, {"kind": "RayJobList", "apiVersion": "ray.io/v1", "metadata": {}, "items": items})
            elif url.path.startswith(f"{COLLECTION}/") and url.path.rsplit("/", 1)[1] in api.objects:
                self._send(200, api.objects[url.path.rsplit("/", 1)[1]])
            else:
                self._status(404, "NotFound", f"{url.path} not found")

        def do_POST(self) -> None:  # noqa: N802
            url = urlparse(self.path)
            api.requests.append(("POST", url.path))
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            if url.path != COLLECTION:
                return self._status(404, "NotFound", url.path)
            meta = body["metadata"]
            name = meta.pop("generateName") + f"{len(api.requests):05d}" if "generateName" in meta else meta["name"]
            body["metadata"] = {"name": name, **meta}
            errors = schema_errors(api.validator, body)
            if parse_qs(url.query).get("fieldValidation") == ["Strict"] and errors:
                return self._status(422, "Invalid", "; ".join(errors))
            self._send(201, api.add(body))

        def do_DELETE(self) -> None:  # noqa: N802
            name = urlparse(self.path).path.rsplit("/", 1)[1]
            api.requests.append(("DELETE", name))
            api.objects.pop(name)
            self._send(200, {"kind": "Status", "apiVersion": "v1", "status": "Success", "details": {"name": name, "kind": "rayjobs"}})

        def _status(self, code: int, reason: str, message: str) -> None:
            self._send(code, {"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": reason, "code": code,
                              "message": message})

        def _send(self, code: int, body: dict[str, Any]) -> None:
            send_json(self, code, body)

        def log_message(self, *args: object) -> None:
            pass

    return Handler


@pytest.fixture()
def cluster(tmp_path: Path) -> Iterator[tuple[KubeAPI, dict[str, str], list[str]]]:
    """The API stand-in holding the suspended template; the script's environment and command."""
    if shutil.which("kubectl") is None or shutil.which("bash") is None:
        pytest.skip("kubectl and bash are needed to run the CronJob's script")
    api = KubeAPI()
    template = copy.deepcopy(next(d for d in load_documents(CLUSTER_DIR / "jobs" / "rayjob-forecast-daily.yaml")))
    api.add(template)
    with serving(_handler(api)) as server:
        yield api, _script_env(tmp_path, server), _script()


def _script() -> list[str]:
    container = _container()
    return [*container["command"], *container["args"]]


def _container() -> dict[str, Any]:
    cronjob = next(d for d in load_documents(CLUSTER_DIR / "jobs" / "cronjob-forecast-daily.yaml") if d["kind"] == "CronJob")
    return cronjob["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]


def _script_env(tmp_path: Path, server: str) -> dict[str, str]:
    """The container's environment, with a kubeconfig naming the stand-in."""
    config = tmp_path / "kubeconfig"
    config.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "test",
        "clusters": [{"name": "test", "cluster": {"server": server}}],
        "contexts": [{"name": "test", "context": {"cluster": "test", "namespace": NAMESPACE, "user": "test"}}],
        "users": [{"name": "test", "user": {}}],
    }))
    return {**{e["name"]: e["value"] for e in _container()["env"]}, "HOME": str(tmp_path), "KUBECONFIG": str(config),
            "PATH": os.environ["PATH"]}


def _runs(api: KubeAPI, env: dict[str, str]) -> list[dict[str, Any]]:
    key, _, value = env["EFP_RUNS"].partition("=")
    return sorted((o for o in api.objects.values() if o["metadata"]["labels"].get(key) == value),
                  key=lambda o: o["metadata"]["creationTimestamp"])


def test_each_day_starts_one_new_run_of_the_template_and_keeps_the_newest_seven(cluster) -> None:
    api, env, command = cluster
    template = api.objects[env["EFP_TEMPLATE"]]
    created = []
    for _ in range(9):
        result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
        assert result.returncode == 0, result.stdout + result.stderr
        created.append(result.stdout.splitlines()[0].removeprefix("rayjob.ray.io/"))
        api.objects[created[-1]]["status"] = {"jobDeploymentStatus": "Complete"}  # what KubeRay reports once it ends
    assert len(set(created)) == 9 and all(name.startswith("efp-forecast-daily-") for name in created)
    runs = _runs(api, env)
    assert [r["metadata"]["name"] for r in runs] == created[-int(env["EFP_KEEP_RUNS"]):]
    for run in runs:
        assert run["spec"] == {**template["spec"], "suspend": False}
    assert template["spec"]["suspend"] is True and env["EFP_TEMPLATE"] in api.objects  # the template is never touched
    assert [name for method, name in api.requests if method == "DELETE"] == created[:2]


def test_a_run_still_going_or_a_template_that_runs_by_itself_stops_the_script(cluster) -> None:
    api, env, command = cluster
    first = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
    assert first.returncode == 0, first.stderr
    running = first.stdout.splitlines()[0].removeprefix("rayjob.ray.io/")
    api.objects[running]["status"] = {"jobDeploymentStatus": "Running"}
    refused = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
    assert refused.returncode == 1 and refused.stdout.strip().splitlines() == [
        f"efp-forecast-daily: an earlier run is still going ({running}:Running ), not starting another"]
    api.objects[running]["status"] = {"jobDeploymentStatus": "Failed"}
    api.objects[env["EFP_TEMPLATE"]]["spec"]["suspend"] = False
    posts = sum(method == "POST" for method, _ in api.requests)
    unsafe = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
    assert unsafe.returncode == 1 and "is not a suspended template" in unsafe.stdout
    assert sum(method == "POST" for method, _ in api.requests) == posts  # nothing created


def test_a_run_the_crd_refuses_is_not_created(cluster) -> None:
    """The API checks every run against the RayJob CRD (kubectl asks for strict field validation)."""
    api, env, command = cluster
    api.objects[env["EFP_TEMPLATE"]]["spec"]["entrypointNumCPUs"] = 1  # misspelt: entrypointNumCpus
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode != 0 and "entrypointNumCPUs" in result.stderr and not _runs(api, env)
