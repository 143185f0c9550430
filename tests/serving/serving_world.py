"""Helpers of the serving tests: a world (store, registry, keys) built from the tiny real bundle."""

from __future__ import annotations

import socket
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from data.settings import PlatformSettings, load_settings


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class World:
    settings: PlatformSettings
    versions: list[str]  # registered versions of the tiny bundle; versions[0] is production at start
    keys: dict[str, str] = field(default_factory=dict)  # role (or "limited") -> API key
    url: str = ""

    def headers(self, role: str) -> dict[str, str]:
        return {"X-API-Key": self.keys[role]}


def build_world(tiny_trained, tmp: Path, database_url: str | None, *, shift=None, **overrides) -> World:
    """Copy the tiny bundle's history into this world's store, register the bundle twice, promote the first.

    ``shift`` (a ``pd.Timedelta``) moves the history in time, e.g. so that it ends now."""
    from data.stores import open_store
    from training.bundle import load_bundle
    from training.registry import VersionInfo, open_registry
    from serving.auth.keys import open_key_store

    overrides.setdefault("registry_uri", str(tmp / "registry"))  # or an s3:// URI with s3_endpoint_url
    settings = load_settings(data_dir=tmp / "var", database_url=database_url, environment="test", **overrides)
    source, target = open_store(tiny_trained.settings), open_store(settings)
    for city in tiny_trained.cities:
        load, weather = source.read_load(city), source.read_weather(city)
        if shift is not None:
            load["ts"], weather["ts"] = load["ts"] + shift, weather["ts"] + shift
        target.write_load(load)
        target.write_weather(weather)
    bundle = load_bundle(tiny_trained.bundle_dir)
    info = VersionInfo(
        cities=bundle.cities, resolution_minutes=bundle.resolution_minutes, train_start=tiny_trained.data_start,
        train_end=tiny_trained.data_end, members=list(bundle.members), feature_schema_hash=bundle.feature_schema_hash,
    )
    registry = open_registry(settings)
    versions = [registry.register(tiny_trained.bundle_dir, info).version for _ in range(2)]
    registry.promote(versions[0], force=True)
    world = World(settings, versions)
    if settings.auth_enabled:
        store = open_key_store(settings)
        for role in ("viewer", "forecaster", "admin"):
            world.keys[role] = store.create(f"test-{role}", role)[1]
        world.keys["limited"] = store.create("test-limited", "forecaster", rate_limit_per_minute=3)[1]
    return world


def wait_ready(url: str, timeout_s: float = 120) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.25)
    raise TimeoutError(f"{url} not ready after {timeout_s} s")




def samples(text: str, name: str) -> list[tuple[dict[str, str], float]]:
    """(labels, value) of every sample called ``name`` in a Prometheus text exposition."""
    from prometheus_client.parser import text_string_to_metric_families

    return [(s.labels, s.value) for family in text_string_to_metric_families(text) for s in family.samples if s.name == name]


def scrape_ray_nodes() -> str:
    """What Prometheus gets from every Ray node's metrics export port through
    cluster/monitoring/podmonitor.yaml: the exposition with its metric relabelling applied."""
    import re

    import ray
    import yaml

    monitor = yaml.safe_load((Path(__file__).resolve().parents[2] / "cluster" / "monitoring" / "podmonitor.yaml").read_text())
    (rule,) = monitor["spec"]["podMetricsEndpoints"][0]["metricRelabelings"]
    pattern, replacement = re.compile(rule["regex"]), rule["replacement"].replace("$1", r"\1")
    lines = []
    for node in ray.nodes():
        if node["Alive"]:
            text = httpx.get(f"http://{node['NodeManagerAddress']}:{node['MetricsExportPort']}/metrics", timeout=10).text
            for line in text.splitlines():
                # A metric name is the first token of a sample line and the third of a # HELP/# TYPE line.
                parts = line.split(" ", 3) if line.startswith("#") else [line]
                index = 2 if line.startswith("#") else 0
                head = re.match(r"[A-Za-z_:][A-Za-z0-9_:]*", parts[index]) if len(parts) > index else None
                if head and (match := pattern.fullmatch(head.group())):
                    parts[index] = match.expand(replacement) + parts[index][head.end():]
                lines.append(" ".join(parts))
    return "\n".join(lines) + "\n"
