"""The KubeRay manifests in cluster/ are valid for the vendored CRDs and agree with the repo:
entrypoints name real modules, the RayService deploys what configs/serve/app.yaml says,
settings are real EFP_* keys, secrets come from Secrets, images match the version."""

from __future__ import annotations

import copy
import importlib.metadata
import importlib.util
import json
import os
import re
import shlex
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from data.settings import PlatformSettings, load_settings
from k8s_schemas import CORE_SCHEMAS
from kuberay_schema import (
    OBJECT_META_SCHEMA,
    CLUSTER_DIR,
    CRD_FILES,
    REPO_ROOT,
    all_manifests,
    load_crd_schema,
    load_documents,
    manifest_files,
    ray_cluster_specs,
    ray_containers,
    schema_errors,
)

SERVE_APP_YAML = REPO_ROOT / "configs" / "serve" / "app.yaml"
#: The image name the manifests use; cluster/image (the one image setting) rewrites it.
IMAGE_REPOSITORY = "energy-forecast-platform"
ENTRYPOINT = re.compile(r"python\s+-m\s+(ray_apps\.[A-Za-z_][\w.]*)")
#: Environment variables that carry credentials and must come from a Secret.
SECRET_ENV = {"EFP_DATABASE_URL", "EFP_REDIS_URL", "EFP_JWT_SECRET", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"}
#: The Kubernetes core objects cluster/ may hold besides KubeRay's.
CORE_KINDS = {("v1", "ConfigMap"), ("v1", "Namespace"), ("v1", "PersistentVolumeClaim")}
SECRET_NAME_HINT = re.compile(r"SECRET|PASSWORD|TOKEN|DATABASE_URL|REDIS_URL|ACCESS_KEY", re.IGNORECASE)


@pytest.fixture(scope="module")
def validators() -> dict[str, jsonschema.protocols.Validator]:
    """One validator per KubeRay kind, built once (each schema is about 1 MB)."""
    built = {}
    for kind in CRD_FILES:
        schema = load_crd_schema(kind)
        jsonschema.Draft4Validator.check_schema(schema)
        built[kind] = jsonschema.Draft4Validator(schema)
    return built


def _ray_manifests() -> list[tuple[Path, dict[str, Any]]]:
    return [(path, doc) for path, doc in all_manifests() if doc.get("kind") in CRD_FILES]


def _manifest(kind: str, name: str | None = None) -> dict[str, Any]:
    found = [doc for _, doc in all_manifests() if doc["kind"] == kind and name in (None, doc["metadata"]["name"])]
    assert found, f"no {kind} {name or ''} in cluster/"
    return found[0]


def _project_version() -> str:
    with (REPO_ROOT / "pyproject.toml").open("rb") as handle:
        return tomllib.load(handle)["project"]["version"]


def _gpu_limit(container: dict[str, Any]) -> int:
    return int(container.get("resources", {}).get("limits", {}).get("nvidia.com/gpu", 0))


def test_cluster_holds_every_deliverable() -> None:
    kinds = sorted((doc["kind"], doc["metadata"]["name"]) for _, doc in _ray_manifests())
    assert ("RayCluster", "efp") in kinds
    assert ("RayService", "efp-forecast") in kinds
    entrypoints = {ENTRYPOINT.search(doc["spec"]["entrypoint"])[1] for _, doc in _ray_manifests() if doc["kind"] == "RayJob"}
    assert entrypoints == {"ray_apps.train", "ray_apps.ingest", "ray_apps.tune", "ray_apps.forecast_daily", "ray_apps.monitor"}


@pytest.mark.parametrize("path", manifest_files(), ids=lambda p: p.name)
def test_manifest_is_valid_for_its_schema(path: Path, validators: dict[str, Any]) -> None:
    for doc in load_documents(path):
        assert doc.get("metadata", {}).get("name"), f"{path.name}: a document without metadata.name"
        if doc["kind"] in CRD_FILES:
            assert doc["apiVersion"] == "ray.io/v1", f"{path.name}: KubeRay objects use ray.io/v1"
            errors = schema_errors(validators[doc["kind"]], doc)
            assert not errors, f"{path.name}:\n" + "\n".join(errors)
        elif (doc["apiVersion"], doc["kind"]) in CORE_SCHEMAS:
            errors = schema_errors(jsonschema.Draft7Validator(CORE_SCHEMAS[doc["apiVersion"], doc["kind"]]), doc)
            assert not errors, f"{path.name}:\n" + "\n".join(errors)
        else:
            assert (doc["apiVersion"], doc["kind"]) in CORE_KINDS, path.name


@pytest.mark.parametrize(
    ("where", "good", "bad"),
    [
        (("spec", "workerGroupSpecs", 0), "replicas", "replica"),
        (("spec", "headGroupSpec", "template", "spec", "containers", 0), "imagePullPolicy", "imagePullPolicey"),
        (("metadata",), "labels", "lables"),
    ],
    ids=["worker-group", "pod-template-container", "metadata"],
)
def test_misspelt_field_is_caught(where: tuple[Any, ...], good: str, bad: str, validators: dict[str, Any]) -> None:
    manifest = copy.deepcopy(_manifest("RayCluster", "efp"))
    node = manifest
    for key in where:
        node = node[key]
    node[bad] = node.pop(good)
    errors = schema_errors(validators["RayCluster"], manifest)
    path = ".".join(str(key) for key in where)
    assert errors == [f"{path}: Additional properties are not allowed ('{bad}' was unexpected)"]


def test_wrong_type_is_caught(validators: dict[str, Any]) -> None:
    manifest = copy.deepcopy(_manifest("RayJob", "efp-train"))
    manifest["spec"]["shutdownAfterJobFinishes"] = "yes"
    assert schema_errors(validators["RayJob"], manifest) == ["spec.shutdownAfterJobFinishes: 'yes' is not of type 'boolean'"]


def test_every_ray_apps_entrypoint_is_an_importable_module() -> None:
    named = {
        (path.name, module)
        for path in manifest_files()
        for module in ENTRYPOINT.findall(path.read_text(encoding="utf-8"))
    }
    assert named, "no `python -m ray_apps.X` entrypoint in cluster/"
    missing = sorted(f"{file}: {module}" for file, module in named if importlib.util.find_spec(module) is None)
    assert not missing, f"entrypoints naming modules that do not exist: {missing}"


def _run_all(commands: dict[str, list[str]], env: dict[str, str]) -> dict[str, tuple[int, str]]:
    """Run the commands side by side; (exit code, output) of each."""
    running = {
        name: subprocess.Popen(argv, cwd=REPO_ROOT, env=env, text=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        for name, argv in commands.items()
    }
    results = {}
    for name, process in running.items():
        output, _ = process.communicate(timeout=120)
        results[name] = (process.returncode, output)
    return results


def test_rayjob_entrypoints_accept_their_arguments() -> None:
    """Each RayJob's command line parses, checked without running the job.

    argparse jobs (their module imports argparse) run as written with one unknown ``EFP_``
    variable in the environment: they parse first (a bad argument exits 2), then loading
    settings refuses the variable, so they stop before doing any work. click/typer jobs get
    ``--help`` after the real arguments instead: click rejects an unknown option (exit 2)
    before it prints help (exit 0); argparse would print help without looking at the rest."""
    sentinel = "EFP_MANIFEST_ARGUMENT_CHECK"
    env = {**os.environ, sentinel: "1", "COLUMNS": "200", "NO_COLOR": "1"}
    commands, argparse_jobs = {}, set()
    for _, doc in _ray_manifests():
        if doc["kind"] != "RayJob":
            continue
        name, argv = doc["metadata"]["name"], shlex.split(doc["spec"]["entrypoint"])
        assert argv[:2] == ["python", "-m"], f"{name}: entrypoint is not `python -m ray_apps.<job> ...`"
        spec = importlib.util.find_spec(argv[2])
        if spec is None or spec.origin is None:
            continue  # reported by test_every_ray_apps_entrypoint_is_an_importable_module
        if "import argparse" in Path(spec.origin).read_text(encoding="utf-8"):
            argparse_jobs.add(name)
            commands[name] = [sys.executable, *argv[1:]]
        else:
            commands[name] = [sys.executable, *argv[1:], "--help"]
    failures = []
    for name, (code, output) in _run_all(commands, env).items():
        accepted = f"environment: unknown setting {sentinel}" in output if name in argparse_jobs else code == 0
        if not accepted:
            failures.append(f"{name}: `python {shlex.join(commands[name][1:])}` is refused:\n{output[-1500:]}")
    assert not failures, "\n".join(failures)


def test_serve_import_path_is_importable() -> None:
    config = yaml.safe_load(_manifest("RayService")["spec"]["serveConfigV2"])
    for application in config["applications"]:
        module, _, attribute = application["import_path"].partition(":")
        assert attribute, f"import_path {application['import_path']!r} lacks ':builder'"
        assert importlib.util.find_spec(module) is not None, f"serve import path module {module} does not exist"


def test_rayservice_serves_the_built_serve_config() -> None:
    if not SERVE_APP_YAML.exists():
        pytest.skip("configs/serve/app.yaml (the `serve build` output) does not exist yet")
    built = yaml.safe_load(SERVE_APP_YAML.read_text(encoding="utf-8"))
    deployed = yaml.safe_load(_manifest("RayService")["spec"]["serveConfigV2"])
    assert deployed["applications"] == built["applications"], (
        "cluster/base/rayservice.yaml serveConfigV2 differs from configs/serve/app.yaml: "
        "run `python cluster/sync_serve_config.py`"
    )


def test_rayservice_runs_the_configured_serve_fast_paths() -> None:
    """Serve reads its fast-path switches from each process's environment: every RayService
    container must carry what configs/serve/deployments.yaml chose, or the cluster runs a
    Serve nobody benchmarked. HAProxy 'auto' means on in the cluster: the image installs it."""
    from serving.config import load_deployments_config

    fast_paths = load_deployments_config().fast_paths
    haproxy = {"on": "1", "off": "0", "auto": "1"}[fast_paths.haproxy]
    wanted = {"RAY_SERVE_THROUGHPUT_OPTIMIZED": "1" if fast_paths.throughput_optimized else "0",
              "RAY_SERVE_ENABLE_HA_PROXY": haproxy}
    if haproxy == "1":
        assert "apt-get install -y --no-install-recommends haproxy" in (CLUSTER_DIR / "Dockerfile").read_text(encoding="utf-8"), \
            "HAProxy is on in the cluster but cluster/Dockerfile does not install it"
    for group, container in ray_containers(_manifest("RayService")):
        env = {item["name"]: item.get("value") for item in container.get("env", []) if item["name"] in wanted}
        assert env == wanted, f"RayService {group} container: Serve fast paths {env}, configs/serve/deployments.yaml says {wanted}"


def _quantity_cpus(value: str | int | float) -> float:
    text = str(value)
    return float(text[:-1]) / 1000 if text.endswith("m") else float(text)


def test_serve_deployments_fit_the_rayservice_workers() -> None:
    """The largest replica count every deployment may autoscale to, times its CPUs, fits the
    serve worker group at maxReplicas (the head runs no replicas: num-cpus 0)."""
    service = _manifest("RayService")
    config = yaml.safe_load(service["spec"]["serveConfigV2"])
    demand = 0.0
    for application in config["applications"]:
        for deployment in application.get("deployments", []):
            replicas = deployment.get("num_replicas") or deployment.get("autoscaling_config", {}).get("max_replicas", 1)
            demand += replicas * deployment.get("ray_actor_options", {}).get("num_cpus", 1.0)
    capacity = sum(
        group["maxReplicas"] * _quantity_cpus(group["template"]["spec"]["containers"][0]["resources"]["limits"]["cpu"])
        for group in service["spec"]["rayClusterConfig"]["workerGroupSpecs"]
    )
    assert demand > 0, "serveConfigV2 lists no deployments with resources"
    assert demand <= capacity, f"Serve may ask for {demand:g} CPUs; the serve workers offer {capacity:g}"


def test_configmap_values_are_valid_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    data = _manifest("ConfigMap", "efp-config")["data"]
    for key, value in data.items():
        monkeypatch.setenv(key, value)
    # What the Secret supplies in the cluster; shapes as the docs describe them.
    monkeypatch.setenv("EFP_DATABASE_URL", "postgresql://efp:pw@postgres:5432/efp")
    monkeypatch.setenv("EFP_REDIS_URL", "redis://redis:6379/0")
    monkeypatch.setenv("EFP_JWT_SECRET", "a-real-secret-from-the-secret-store")
    settings = load_settings()
    assert settings.environment == "production" and settings.auth_enabled
    assert settings.registry_is_s3 and settings.ray_address == "auto"
    assert settings.ray_storage_uri == "s3://efp-ray/results"


def test_every_efp_variable_in_the_manifests_is_a_setting() -> None:
    known = {f"EFP_{name.upper()}" for name in PlatformSettings.model_fields}
    names = set(_manifest("ConfigMap", "efp-config")["data"])
    names |= {env["name"] for _, doc in _ray_manifests() for _, c in ray_containers(doc) for env in c.get("env", [])}
    unknown = sorted(name for name in names if name.startswith("EFP_") and name.split("__")[0] not in known)
    assert not unknown, f"not PlatformSettings keys: {unknown}"


def test_secrets_come_from_secret_refs_only() -> None:
    configmap = _manifest("ConfigMap", "efp-config")["data"]
    assert not [key for key in configmap if SECRET_NAME_HINT.search(key)], "credentials in the ConfigMap"
    for path, doc in _ray_manifests():
        for group, container in ray_containers(doc):
            env = {item["name"]: item for item in container.get("env", [])}
            assert SECRET_ENV <= set(env), f"{path.name} {group}: missing {sorted(SECRET_ENV - set(env))}"
            for name, item in env.items():
                if SECRET_NAME_HINT.search(name):
                    assert "value" not in item, f"{path.name} {group}: {name} is a literal"
                    assert item["valueFrom"]["secretKeyRef"]["name"] == "efp-secrets", f"{path.name} {group}: {name}"
            assert {"configMapRef": {"name": "efp-config"}} in container.get("envFrom", []), f"{path.name} {group}"


def test_ray_train_and_tune_keep_their_state_in_s3_in_every_ray_pod() -> None:
    """With Train workers on several pods Ray needs storage every worker reaches: the ConfigMap
    points Ray Train checkpoints and Tune results at S3 and no Ray container overrides it, so
    no run depends on a mounted volume for them."""
    assert _manifest("ConfigMap", "efp-config")["data"]["EFP_RAY_STORAGE_URI"].startswith("s3://")
    for path, doc in _ray_manifests():
        for group, container in ray_containers(doc):
            assert {"configMapRef": {"name": "efp-config"}} in container.get("envFrom", []), f"{path.name} {group}"
            overrides = {item["name"] for item in container.get("env", [])} & {"EFP_RAY_STORAGE_URI", "EFP_CONFIG"}
            assert not overrides, f"{path.name} {group}: {sorted(overrides)} set beside the ConfigMap"


def test_every_ray_pod_mounts_the_shared_volume_at_the_data_dir() -> None:
    """The platform's shared files (the city overlay, daily exports, the monitor's textfile)
    live under EFP_DATA_DIR, which several pods read and write, so every Ray container
    mounts the ReadWriteMany claim exactly where the ConfigMap puts EFP_DATA_DIR."""
    data_dir = _manifest("ConfigMap", "efp-config")["data"]["EFP_DATA_DIR"]
    claim = _manifest("PersistentVolumeClaim", "efp-shared")
    assert claim["spec"]["accessModes"] == ["ReadWriteMany"]
    for path, doc in _ray_manifests():
        for cluster in ray_cluster_specs(doc):
            groups = [("head", cluster["headGroupSpec"])] + [(g["groupName"], g) for g in cluster.get("workerGroupSpecs", [])]
            for name, group in groups:
                pod = group["template"]["spec"]
                volumes = {v["name"]: v for v in pod.get("volumes", [])}
                mounts = {m["mountPath"]: m["name"] for m in pod["containers"][0].get("volumeMounts", [])}
                assert data_dir in mounts, f"{path.name} {name}: nothing mounted at {data_dir}"
                volume = volumes.get(mounts[data_dir], {})
                assert volume.get("persistentVolumeClaim", {}).get("claimName") == "efp-shared", f"{path.name} {name}"


def test_images_match_project_version_and_gpu_variant() -> None:
    version = _project_version()
    for path, doc in _ray_manifests():
        for group, container in ray_containers(doc):
            suffix = "-gpu" if _gpu_limit(container) else ""
            assert container["image"] == f"{IMAGE_REPOSITORY}:{version}{suffix}", f"{path.name} {group}"
        submitter = doc["spec"].get("submitterPodTemplate")
        if submitter:
            assert submitter["spec"]["containers"][0]["image"] == f"{IMAGE_REPOSITORY}:{version}", path.name


def test_ray_and_torch_versions_agree_with_the_image() -> None:
    dockerfile = (CLUSTER_DIR / "Dockerfile").read_text(encoding="utf-8")
    ray_version = importlib.metadata.version("ray")
    assert f"ARG RAY_VERSION={ray_version}\n" in dockerfile
    assert "ARG TORCH_VERSION=2.13.0\n" in dockerfile
    with (REPO_ROOT / "pyproject.toml").open("rb") as handle:
        assert "torch==2.13.0" in tomllib.load(handle)["project"]["dependencies"]
    for path, doc in _ray_manifests():
        for cluster in ray_cluster_specs(doc):
            assert cluster["rayVersion"] == ray_version, path.name
            assert cluster["authOptions"] == {"mode": "token"}, f"{path.name}: Ray 2.60 token auth"


def test_image_holds_every_package_and_the_configs() -> None:
    """The image installs the wheel built from the copied tree: a package pyproject.toml
    ships but the Dockerfile does not copy would be missing from the wheel, and so from
    every pod."""
    assert "pip wheel --no-deps" in (CLUSTER_DIR / "Dockerfile").read_text(encoding="utf-8")
    assert "pip install --no-deps /tmp/wheels/" in (CLUSTER_DIR / "Dockerfile").read_text(encoding="utf-8")
    dockerfile = (CLUSTER_DIR / "Dockerfile").read_text(encoding="utf-8")
    with (REPO_ROOT / "pyproject.toml").open("rb") as handle:
        patterns = tomllib.load(handle)["tool"]["setuptools"]["packages"]["find"]["include"]
    packages = {pattern.rstrip("*") for pattern in patterns}
    for folder in sorted(packages | {"configs"}):
        assert f"COPY --chown=ray:users {folder} ./{folder}\n" in dockerfile, f"cluster/Dockerfile does not copy {folder}/"


def test_gpu_groups_ask_for_gpus_and_autoscaling_bounds_hold() -> None:
    cluster = _manifest("RayCluster", "efp")["spec"]
    assert cluster["enableInTreeAutoscaling"] is True
    groups = {group["groupName"]: group for group in cluster["workerGroupSpecs"]}
    assert {"cpu", "gpu"} <= set(groups)
    assert _gpu_limit(groups["gpu"]["template"]["spec"]["containers"][0]) >= 1
    assert _gpu_limit(groups["cpu"]["template"]["spec"]["containers"][0]) == 0
    for path, doc in _ray_manifests():
        for spec in ray_cluster_specs(doc):
            assert spec["headGroupSpec"]["rayStartParams"].get("num-cpus") == "0", f"{path.name}: work off the head"
            for group in spec["workerGroupSpecs"]:
                assert group["minReplicas"] <= group["replicas"] <= group["maxReplicas"], (path.name, group["groupName"])
                container = group["template"]["spec"]["containers"][0]
                resources = container["resources"]
                assert resources["requests"] == resources["limits"], f"{path.name} {group['groupName']}"


def test_rayjobs_clean_up_after_themselves() -> None:
    jobs = [doc for _, doc in _ray_manifests() if doc["kind"] == "RayJob"]
    for job in jobs:
        spec = job["spec"]
        assert spec["shutdownAfterJobFinishes"] is True, job["metadata"]["name"]
        assert spec["ttlSecondsAfterFinished"] > 0, job["metadata"]["name"]


def test_kustomizations_name_every_manifest_and_keep_jobs_apart() -> None:
    for folder in ("base", "jobs"):
        kustomization = yaml.safe_load((CLUSTER_DIR / folder / "kustomization.yaml").read_text(encoding="utf-8"))
        listed = set(kustomization["resources"])
        files = {path.name for path in (CLUSTER_DIR / folder).glob("*.yaml") if path.name != "kustomization.yaml"}
        assert listed == files, f"cluster/{folder}/kustomization.yaml: listed {sorted(listed)}, present {sorted(files)}"
        assert kustomization["components"] == ["../image"], f"cluster/{folder}: not through the one image setting"
        jobs = {name for name in files if name.startswith(("rayjob-", "cronjob-"))}
        assert jobs == (files if folder == "jobs" else set()), f"cluster/{folder}: RayJobs and their schedules belong in cluster/jobs only"


# --- the daily job's schedule: a CronJob that starts a copy of the suspended RayJob template ---


def _schedule_objects() -> dict[str, dict[str, Any]]:
    return {doc["kind"]: doc for doc in load_documents(CLUSTER_DIR / "jobs" / "cronjob-forecast-daily.yaml")}


def _schedule_pod() -> tuple[dict[str, Any], dict[str, str]]:
    pod = _schedule_objects()["CronJob"]["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    container = pod["containers"][0]
    return pod, {item["name"]: item["value"] for item in container["env"]}


def test_the_daily_job_starts_at_0930_india_time_one_run_at_a_time() -> None:
    cron = _schedule_objects()["CronJob"]["spec"]
    assert (cron["schedule"], cron["timeZone"], cron["concurrencyPolicy"]) == ("30 9 * * *", "Asia/Kolkata", "Forbid")
    assert cron["startingDeadlineSeconds"] <= 30 * 60  # a late start still lands before the 10:00 submission
    pod, env = _schedule_pod()
    assert pod["containers"][0]["image"] == "kubectl"  # the name cluster/jobs/kustomization.yaml sets
    kustomization = yaml.safe_load((CLUSTER_DIR / "jobs" / "kustomization.yaml").read_text(encoding="utf-8"))
    assert [i["name"] for i in kustomization["images"]] == ["kubectl"] and kustomization["images"][0]["newName"]
    template = _manifest("RayJob", env["EFP_TEMPLATE"])
    assert template["spec"]["suspend"] is True, "the template must not run by itself"
    assert ENTRYPOINT.search(template["spec"]["entrypoint"])[1] == "ray_apps.forecast_daily"
    assert "kubectl create -f -" in pod["containers"][0]["args"][0]


def test_the_schedule_may_start_and_clean_up_rayjobs_and_nothing_else() -> None:
    objects = _schedule_objects()
    account, role, binding = objects["ServiceAccount"], objects["Role"], objects["RoleBinding"]
    pod, _ = _schedule_pod()
    assert pod["serviceAccountName"] == account["metadata"]["name"]
    assert role["rules"] == [{"apiGroups": ["ray.io"], "resources": ["rayjobs"], "verbs": ["create", "get", "list", "delete"]}]
    assert binding["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": role["metadata"]["name"]}
    namespace = yaml.safe_load((CLUSTER_DIR / "jobs" / "kustomization.yaml").read_text(encoding="utf-8"))["namespace"]
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": account["metadata"]["name"], "namespace": namespace}]


def test_each_run_the_schedule_creates_is_a_valid_rayjob_with_its_own_name(validators: dict[str, Any]) -> None:
    """The RayJob the script writes (its JSON skeleton around the template's spec, suspend turned
    off) is valid for the RayJob CRD, named by generateName, and labelled as the runs it lists."""
    pod, env = _schedule_pod()
    script = pod["containers"][0]["args"][0]
    skeleton = re.search(r"printf '(\{.*\})' \"\$spec\"", script)
    assert skeleton, "the script does not print the run's manifest with printf"
    spec = copy.deepcopy(_manifest("RayJob", env["EFP_TEMPLATE"])["spec"])
    text = json.dumps(spec, separators=(",", ":"))  # kubectl's jsonpath prints compact JSON
    assert '"suspend":true' in text
    run = json.loads(skeleton[1].replace("%s", text.replace('"suspend":true', '"suspend":false')))
    assert run["spec"]["suspend"] is False and run["spec"] == {**spec, "suspend": False}
    assert run["metadata"]["generateName"].endswith("-") and "name" not in run["metadata"]
    key, _, value = env["EFP_RUNS"].partition("=")
    assert run["metadata"]["labels"][key] == value
    schema = copy.deepcopy(validators["RayJob"].schema)
    meta = copy.deepcopy(OBJECT_META_SCHEMA)
    meta["properties"]["generateName"] = {"type": "string", "pattern": r"^[a-z0-9]([-a-z0-9]*)?-$", "maxLength": 58}
    meta["required"] = ["generateName"]
    schema["properties"]["metadata"] = meta
    assert schema_errors(jsonschema.Draft4Validator(schema), run) == []


@pytest.mark.parametrize(
    ("where", "good", "bad"),
    [(("spec",), "concurrencyPolicy", "concurrencypolicy"),
     (("spec", "jobTemplate", "spec", "template", "spec"), "serviceAccountName", "serviceAccount")],
    ids=["cronjob-spec", "pod-spec"],
)
def test_a_misspelt_cronjob_field_is_caught(where: tuple[str, ...], good: str, bad: str) -> None:
    cronjob = copy.deepcopy(_schedule_objects()["CronJob"])
    node = cronjob
    for key in where:
        node = node[key]
    node[bad] = node.pop(good)
    errors = schema_errors(jsonschema.Draft7Validator(CORE_SCHEMAS["batch/v1", "CronJob"]), cronjob)
    assert f"{'.'.join(where)}: Additional properties are not allowed ('{bad}' was unexpected)" in errors


def test_a_wrong_schedule_or_policy_is_caught() -> None:
    cronjob = copy.deepcopy(_schedule_objects()["CronJob"])
    cronjob["spec"]["schedule"], cronjob["spec"]["concurrencyPolicy"] = "daily at 9:30", "Never"
    errors = schema_errors(jsonschema.Draft7Validator(CORE_SCHEMAS["batch/v1", "CronJob"]), cronjob)
    assert [e.split(":")[0] for e in errors] == ["spec.concurrencyPolicy", "spec.schedule"]
