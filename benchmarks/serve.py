"""Load benchmark of the forecast service (issue 10): each Serve path against its floor,
measured in the same run, with Serve's fast paths as configs/serve/deployments.yaml sets them.

Floors: the no-op route (``GET /healthz``: proxy and ingress, no work) for a cache hit; the
same ensemble called in-process (no HTTP, no Serve) for an uncached forecast, at concurrency
1 and 32. Every response carries a ``Server-Timing`` header (serving/timing.py), so the
per-hop breakdown (proxy, ingress, cache, Preprocessor, members, Ensemble) comes from the
requests measured, not from a separate trace. Load comes from a second process on loopback;
every scenario is bounded in request count and time.

``python -m benchmarks.serve [--json] [--no-report]``; ``--variant`` overrides the fast
paths for one run and ``--compare`` runs every variant in its own process (Serve reads its
switches at import) and tabulates what each bought.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import logging
import multiprocessing as mp
import os
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pandas as pd

from benchmarks.report import machine_description, markdown_table, write_section

CITIES = ["DEL", "MUM", "BLR", "CHE", "KOL", "HYD", "AMD", "PUN", "JAI", "LKO"]
CONCURRENCY = (1, 8, 32)
#: Ratio targets of the issue, each against its floor measured in the same run.
RATIO_TARGETS = {"hit_vs_noop": 1.3, "uncached_vs_floor": 2.0, "c32_vs_floor": 0.4}
ABSOLUTE_TARGETS = {"hit_p50_ms": 5.0, "uncached_p50_ms": 20.0, "uncached_c32_rps": 100.0, "batch100_warm_s": 1.0,
                    "batch100_cold_s": 1.5}
#: Fast-path variants for --variant/--compare: the environment each sets (explicit values win over the config).
VARIANTS: dict[str, dict[str, str]] = {
    "config": {},
    "serve-defaults": {"RAY_SERVE_THROUGHPUT_OPTIMIZED": "0", "RAY_SERVE_ENABLE_HA_PROXY": "0"},
    "throughput-optimized": {"RAY_SERVE_THROUGHPUT_OPTIMIZED": "1", "RAY_SERVE_ENABLE_HA_PROXY": "0"},
    "throughput-optimized+haproxy": {"RAY_SERVE_THROUGHPUT_OPTIMIZED": "1", "RAY_SERVE_ENABLE_HA_PROXY": "1"},
}
SPANS = ("cache", "preprocessor", "members", "ensemble")
SHAPE_SCENARIO = "graph shape, no work (Serve's transport)"


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


async def _load(url: str, bodies: list[dict], headers: dict[str, str], concurrency: int, count: int, max_s: float) -> dict:
    """``concurrency`` keep-alive connections sending ``count`` requests (bodies encoded once, before the clock starts).

    aiohttp, not httpx: the load shares the machine with the service, and on this 2-core machine
    httpx's client spent 5.0-6.2 ms of CPU per request (a third of a core at concurrency 32),
    aiohttp's 0.9-1.4 ms (docs/serving.md, "Fourth profile")."""
    import aiohttp
    import orjson

    from serving.timing import parse

    latencies: list[float] = []
    timings: list[dict[str, float]] = []
    errors = 0
    next_index = 0
    payloads = [orjson.dumps(body) if body else None for body in bodies]
    post_headers = {**headers, "Content-Type": "application/json"}
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=30)) as client:
        async def worker() -> None:
            nonlocal next_index, errors
            while next_index < count and time.perf_counter() - began < max_s:
                payload = payloads[next_index % len(payloads)]
                next_index += 1
                t0 = time.perf_counter()
                request = client.post(url, data=payload, headers=post_headers) if payload else client.get(url, headers=headers)
                async with request as response:
                    await response.read()
                latencies.append(time.perf_counter() - t0)
                timings.append(parse(response.headers.get("server-timing", "")))
                errors += response.status != 200

        began = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed = time.perf_counter() - began
    return {"latencies": latencies, "timings": timings, "errors": errors, "elapsed": elapsed}


def _load_process(url: str, bodies: list[dict], headers: dict[str, str], concurrency: int, count: int, max_s: float, out: Any) -> None:
    out.put(asyncio.run(_load(url, bodies, headers, concurrency, count, max_s)))


def drive(url: str, bodies: list[dict], headers: dict[str, str], concurrency: int, count: int, max_s: float = 20) -> dict:
    """Run one load level from a separate process (spawned, so it shares nothing with Ray)."""
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    process = ctx.Process(target=_load_process, args=(url, bodies, headers, concurrency, count, max_s, queue))
    process.start()
    result = queue.get(timeout=max_s + 60)
    process.join()
    return result


def summarise(name: str, concurrency: int, result: dict) -> dict[str, Any]:
    lat = [x * 1000 for x in result["latencies"]]
    return {
        "scenario": name, "concurrency": concurrency, "requests": len(lat), "errors": result["errors"],
        "p50_ms": statistics.median(lat), "p99_ms": _percentile(lat, 0.99), "throughput_rps": len(lat) / result["elapsed"],
    }


def breakdown(path: str, result: dict) -> dict[str, Any]:
    """Median milliseconds per hop of one scenario: the client's total, the proxy (total minus the
    ingress's ``app`` span), the ingress's own work, and each stage it waited on."""
    total = statistics.median(x * 1000 for x in result["latencies"])
    spans = [t for t in result["timings"] if "app" in t]
    app = statistics.median(t["app"] for t in spans) if spans else float("nan")
    row: dict[str, Any] = {"path": path, "client_total_ms": total, "proxy_ms": total - app, "ingress_app_ms": app}
    stages = 0.0
    for name in SPANS:
        values = [t.get(name, 0.0) for t in spans]
        row[f"{name}_ms"] = statistics.median(values) if values else 0.0
        stages += row[f"{name}_ms"]
    row["ingress_own_ms"] = app - stages
    return row


def in_process(engine: Any, jobs: list[Any], concurrency: int, count: int, max_s: float = 20) -> dict:
    latencies: list[float] = []
    began = time.perf_counter()

    def one(index: int) -> None:
        if time.perf_counter() - began > max_s:
            return
        t0 = time.perf_counter()
        engine.run_sync(jobs[index % len(jobs)])
        latencies.append(time.perf_counter() - t0)

    with ThreadPoolExecutor(concurrency) as pool:
        list(pool.map(one, range(count)))
    return {"latencies": latencies, "timings": [], "errors": 0, "elapsed": time.perf_counter() - began}


async def _asgi_hits(settings: Any, body: dict, count: int) -> dict:
    """The same cache hit answered by the app itself through ASGI: what the ingress spends, without Serve."""
    from serving.api import create_api
    from serving.wiring import local_state

    app = create_api(local_state(settings))
    latencies = []
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://bench") as client:
        await client.post("/v1/forecast", json=body)
        began = time.perf_counter()
        for _ in range(count):
            t0 = time.perf_counter()
            await client.post("/v1/forecast", json=body)
            latencies.append(time.perf_counter() - t0)
    return {"latencies": latencies, "timings": [], "errors": 0, "elapsed": time.perf_counter() - began}


def prepare_world(root: Path, days: int) -> tuple[Any, list[str]]:
    """Synthetic history for the 10 catalogue cities, a tiny real bundle over them, registered and promoted."""
    from data.settings import load_settings
    from training.bundle import load_bundle
    from training.registry import VersionInfo, open_registry
    from training.tiny import build_tiny_bundle

    redis_url = "redis://127.0.0.1:6379/0"
    try:
        import redis

        redis.Redis.from_url(redis_url, socket_connect_timeout=0.5).ping()
    except Exception:
        redis_url = None
    settings = load_settings(data_dir=root / "var", registry_uri=str(root / "registry"), environment="test",
                             auth_enabled=False, redis_url=redis_url, redis_prefix=f"efp-bench-{int(time.time())}:")
    print(f"training a tiny bundle over {len(CITIES)} cities x {days} days ...", flush=True)
    path, cities, start, end = build_tiny_bundle(settings, root / "bundle", CITIES, dt.date(2024, 1, 1), days)
    bundle = load_bundle(path)
    registry = open_registry(settings)
    info = VersionInfo(cities=bundle.cities, resolution_minutes=bundle.resolution_minutes, train_start=start, train_end=end,
                       members=list(bundle.members), feature_schema_hash=bundle.feature_schema_hash)
    version = registry.register(path, info).version
    registry.promote(version, force=True)
    last_day = (end - pd.Timedelta(days=1)).tz_convert("Asia/Kolkata").normalize()
    days_back = [(last_day - pd.Timedelta(days=i)).strftime("%Y-%m-%dT00:00:00") for i in range(1, 11)]
    return settings, days_back


def measure(requests: int, days: int) -> dict[str, Any]:
    """One run: Serve started with this process's fast paths, every scenario, the floors."""
    import ray
    from ray import serve

    from ray_apps.serve_runner import wait_ready
    from serving.app import APP_NAME, build_app
    from serving.config import ServeArgs, load_deployments_config
    from serving.engines import ForecastJob
    from serving.engines.local import LocalEngine
    from serving.fast_paths import apply
    from serving.model_directory import BundleCache, ModelDirectory

    deployments = load_deployments_config()
    environment = apply(deployments.fast_paths)  # before Ray starts its workers
    print(f"fast paths: {deployments.fast_paths.describe()}", flush=True)
    logging.getLogger("efp.access").disabled = True  # the in-process floor's access lines
    rows: list[dict[str, Any]] = []
    hops: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="efp-bench-serve-") as tmp:
        settings, starts = prepare_world(Path(tmp), days)
        ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False)
        try:
            port = 8799
            serve.start(http_options={"host": "127.0.0.1", "port": port})
            serve.run(build_app(ServeArgs(settings=settings.transport())), name=APP_NAME, route_prefix="/", blocking=False)
            base = f"http://127.0.0.1:{port}"
            wait_ready(base)
            url = f"{base}/v1/forecast"
            hit_body = [{"city": "DEL", "start": starts[0]}]
            uncached_bodies = [{"city": c, "start": s} for c in CITIES[:4] for s in starts[:5]]
            batch = {"requests": [{"city": c, "start": s} for c in CITIES for s in starts]}
            print("cold batch of 100 ...", flush=True)
            t0 = time.perf_counter()  # first sight of these 100 (city, day) pairs: features built, members run
            response = httpx.post(f"{base}/v1/forecast/batch", json=batch, headers={"Cache-Control": "no-cache"}, timeout=120)
            batch_cold = time.perf_counter() - t0
            cold_ok = sum(r["status"] == 200 for r in response.json()["results"]) if response.status_code == 200 else 0
            # warm: replicas' models, feature caches, the cached answer
            drive(url, uncached_bodies, {"Cache-Control": "no-cache"}, 4, len(uncached_bodies) * 2)
            drive(url, hit_body, {}, 1, 5)
            drive(f"{base}/healthz", [{}], {}, 1, 20)
            directory = ModelDirectory(settings)
            engine = LocalEngine(settings, BundleCache(settings, directory), deployments)
            version = directory.resolve("DEL", None)
            jobs = [ForecastJob(version.version, b["city"], pd.Timestamp(b["start"]).tz_localize("Asia/Kolkata").tz_convert("UTC"), 96, 15)
                    for b in uncached_bodies]
            in_process(engine, jobs, 1, len(jobs))  # warm
            for concurrency in CONCURRENCY:
                # Each floor right before the Serve scenarios it is compared with: a shared VM's speed
                # drifts by a third within minutes, so floors taken at the end made the ratios drift too.
                print(f"concurrency {concurrency} ...", flush=True)
                if concurrency == 1:
                    noop = drive(f"{base}/healthz", [{}], {}, 1, requests)  # proxy + ingress, no work
                    rows.append(summarise("no-op route (GET /healthz)", 1, noop))
                hit = drive(url, hit_body, {}, concurrency, requests)
                rows.append(summarise("ensemble in-process (floor)", concurrency, in_process(engine, jobs, concurrency, requests)))
                uncached = drive(url, uncached_bodies, {"Cache-Control": "no-cache"}, concurrency, requests)
                rows.append(summarise("cache hit", concurrency, hit))
                rows.append(summarise("uncached ensemble (Serve)", concurrency, uncached))
                if concurrency == 1:
                    hops += [breakdown("no-op route", noop), breakdown("cache hit", hit), breakdown("uncached", uncached)]
            batch_warm = []
            for _ in range(3):  # features cached now; every member and the ensemble still run
                t0 = time.perf_counter()
                httpx.post(f"{base}/v1/forecast/batch", json=batch, headers={"Cache-Control": "no-cache"}, timeout=120)
                batch_warm.append(time.perf_counter() - t0)
            rows += measure_shape(base, requests)
            rows.append(summarise("cache hit in-process (FastAPI app, no Serve)", 1,
                                  asyncio.run(_asgi_hits(settings, hit_body[0], requests))))
            cache = "Redis" if settings.redis_url else "in-process"
        finally:
            serve.shutdown()
            ray.shutdown()

    def pick(scenario: str, concurrency: int) -> dict[str, Any]:
        return next(r for r in rows if r["scenario"] == scenario and r["concurrency"] == concurrency)

    for row in rows:
        floor = pick("ensemble in-process (floor)", row["concurrency"])
        row["p50_vs_floor"] = row["p50_ms"] / floor["p50_ms"] if floor else None
    result: dict[str, Any] = {
        "noop_p50_ms": pick("no-op route (GET /healthz)", 1)["p50_ms"],
        "hit_p50_ms": pick("cache hit", 1)["p50_ms"],
        "uncached_p50_ms": pick("uncached ensemble (Serve)", 1)["p50_ms"],
        "floor_p50_ms": pick("ensemble in-process (floor)", 1)["p50_ms"],
        "uncached_c32_rps": pick("uncached ensemble (Serve)", 32)["throughput_rps"],
        "floor_c32_rps": pick("ensemble in-process (floor)", 32)["throughput_rps"],
        "batch100_warm_s": min(batch_warm),
        "batch100_cold_s": batch_cold,
        "batch100_cold_ok": cold_ok,
        "app_hit_p50_ms": pick("cache hit in-process (FastAPI app, no Serve)", 1)["p50_ms"],
        "shape_p50_ms": pick(SHAPE_SCENARIO, 1)["p50_ms"],
        "shape_c32_rps": pick(SHAPE_SCENARIO, 32)["throughput_rps"],
    }
    result["hit_vs_noop"] = result["hit_p50_ms"] / result["noop_p50_ms"]
    result["uncached_vs_floor"] = result["uncached_p50_ms"] / result["floor_p50_ms"]
    result["c32_vs_floor"] = result["uncached_c32_rps"] / result["floor_c32_rps"]
    result["targets_met"] = ratio_verdict(result)
    result["fast_paths"] = environment
    result["cache"] = cache
    result["machine"] = machine_description()
    result["rows"] = rows
    result["breakdown"] = hops
    return result


def measure_shape(base: str, requests: int) -> list[dict[str, Any]]:
    """The graph's shape with no work (benchmarks/serve_shape.py), beside the real graph: Serve's share."""
    from ray import serve

    from benchmarks.serve_shape import SHAPE_APP, SHAPE_ROUTE, shape_app

    print("graph shape with no work ...", flush=True)
    serve.run(shape_app(), name=SHAPE_APP, route_prefix=SHAPE_ROUTE, blocking=False)
    url = f"{base}{SHAPE_ROUTE}/"
    deadline = time.monotonic() + 120
    while True:  # routes reach the proxy a moment after the app is running
        try:
            if httpx.post(url, json={"city": "DEL"}, timeout=10).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            raise SystemExit(f"the graph-shape app did not answer at {url}")
        time.sleep(0.5)
    drive(url, [{"city": "DEL"}], {}, 4, 40)
    rows = [summarise(SHAPE_SCENARIO, concurrency, drive(url, [{"city": "DEL"}], {}, concurrency, requests))
            for concurrency in (1, 32)]
    serve.delete(SHAPE_APP)
    return rows


def ratio_verdict(result: dict[str, Any]) -> dict[str, bool]:
    return {
        "hit_vs_noop": result["hit_vs_noop"] <= RATIO_TARGETS["hit_vs_noop"],
        "uncached_vs_floor": result["uncached_vs_floor"] <= RATIO_TARGETS["uncached_vs_floor"],
        "c32_vs_floor": result["c32_vs_floor"] >= RATIO_TARGETS["c32_vs_floor"],
    }


def report_body(result: dict[str, Any]) -> str:
    met = result["targets_met"]
    absolute = [
        f"- cache hit p50 {result['hit_p50_ms']:.1f} ms (absolute target <= {ABSOLUTE_TARGETS['hit_p50_ms']:.0f} ms)",
        f"- uncached p50 {result['uncached_p50_ms']:.1f} ms (<= {ABSOLUTE_TARGETS['uncached_p50_ms']:.0f} ms)",
        f"- uncached throughput at concurrency 32: {result['uncached_c32_rps']:.0f}/s (>= {ABSOLUTE_TARGETS['uncached_c32_rps']:.0f}/s)",
        f"- batch of 100 forecasts (10 cities x 10 days, no-cache): {result['batch100_cold_s']:.2f} s cold "
        f"({result['batch100_cold_ok']}/100 ok; target <= {ABSOLUTE_TARGETS['batch100_cold_s']} s), "
        f"{result['batch100_warm_s']:.2f} s warm (<= {ABSOLUTE_TARGETS['batch100_warm_s']:.0f} s)",
    ]
    ratios = [
        f"- cache hit p50 / no-op p50 = {result['hit_vs_noop']:.2f} (target <= {RATIO_TARGETS['hit_vs_noop']}): "
        f"{'met' if met['hit_vs_noop'] else 'missed'}",
        f"- uncached p50 / in-process p50 = {result['uncached_vs_floor']:.2f} (target <= {RATIO_TARGETS['uncached_vs_floor']}): "
        f"{'met' if met['uncached_vs_floor'] else 'missed'}",
        f"- uncached throughput / in-process throughput at concurrency 32 = {result['c32_vs_floor']:.2f} "
        f"(target >= {RATIO_TARGETS['c32_vs_floor']}): {'met' if met['c32_vs_floor'] else 'missed'}",
    ]
    shape = [
        f"- the graph's shape with no work in it (benchmarks/serve_shape.py: ingress, preprocessor, three members at "
        f"once, ensemble; real payload sizes): p50 {result['shape_p50_ms']:.1f} ms at concurrency 1, "
        f"{result['shape_c32_rps']:.0f}/s at concurrency 32. That is Serve's own cost for this graph on this machine: "
        f"{result['shape_p50_ms'] / result['floor_p50_ms']:.1f}x the in-process ensemble's p50 before any work, and "
        f"{result['uncached_p50_ms'] - result['shape_p50_ms']:.1f} ms of the uncached p50 is the service's own work.",
    ]
    fast = ", ".join(f"{k}={v}" for k, v in result["fast_paths"].items())
    return "\n".join([
        "Tiny real bundle (XGBoost + LSTM + Transformer) over 10 cities; Serve graph as in configs/serve/deployments.yaml "
        f"(1 replica each at start), fast paths: {fast}; cache: {result['cache']}; auth off (measures the service, not key "
        "lookups). Load from a separate process over loopback (aiohttp, keep-alive). 'Uncached' sends `Cache-Control: "
        "no-cache`: the response cache is skipped, the members with weight for the city and the ensemble run (the "
        "Preprocessor's feature cache still serves repeated city/day pairs). The floor is the same ensemble in-process.",
        "", markdown_table(result["rows"]), "",
        "Ratios against the floors of this run:", "", *ratios, "", "Serve's transport alone:", "", *shape, "",
        "Absolute figures:", "", *absolute, "",
        "Where the time goes at concurrency 1 (medians, ms, from each response's `Server-Timing` header: proxy = the "
        "client's time minus the ingress's `app` span; ingress_own = `app` minus the stages it awaited):", "",
        markdown_table(result["breakdown"]), "",
        f"Ratio targets met: {sum(met.values())} of {len(met)}.",
    ])


def compare(requests: int, days: int) -> list[dict[str, Any]]:
    """Every variant in its own process (Serve reads its switches at import), one after another."""
    results = []
    for name, environment in VARIANTS.items():
        if name == "config":
            continue
        print(f"=== variant {name}", flush=True)
        completed = subprocess.run(
            [sys.executable, "-m", "benchmarks.serve", "--json", "--no-report", "--variant", name,
             "--requests", str(requests), "--days", str(days)],
            env={**os.environ, **environment}, capture_output=True, text=True, timeout=1800)
        try:
            result = json.loads(completed.stdout[completed.stdout.index("{"):])
        except ValueError:
            print(completed.stderr[-2000:], file=sys.stderr)
            raise SystemExit(f"variant {name} failed (exit {completed.returncode})")
        results.append({"variant": name, **{k: result[k] for k in (
            "noop_p50_ms", "hit_p50_ms", "uncached_p50_ms", "floor_p50_ms", "uncached_c32_rps", "floor_c32_rps",
            "batch100_warm_s", "hit_vs_noop", "uncached_vs_floor", "c32_vs_floor")}})
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.serve", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=300, help="requests per scenario and concurrency (bounded)")
    parser.add_argument("--days", type=int, default=40, help="days of synthetic history to train on")
    parser.add_argument("--json", action="store_true", help="print one JSON object (the keys of docs/contracts.md)")
    parser.add_argument("--no-report", action="store_true", help="print only; do not write docs/benchmarks.md")
    parser.add_argument("--variant", choices=sorted(VARIANTS), default="config",
                        help="fast paths for this run: the config's, or an override (see VARIANTS)")
    parser.add_argument("--compare", action="store_true", help="run every variant in its own process and tabulate them")
    args = parser.parse_args(argv)

    if args.compare:
        table = markdown_table(compare(args.requests, args.days))
        print(table)
        if not args.no_report:
            print(f"wrote {write_section('serve-fast-paths', 'Serve fast paths, one by one', table)}")
        return 0
    os.environ.update(VARIANTS[args.variant])
    if args.json:  # Ray's and our progress lines go to stderr; stdout is the JSON object alone
        real_stdout, sys.stdout = sys.stdout, sys.stderr
        try:
            result = measure(args.requests, args.days)
        finally:
            sys.stdout = real_stdout
        print(json.dumps({k: v for k, v in result.items() if k != "rows"}, indent=2))
    else:
        result = measure(args.requests, args.days)
        print(report_body(result))
    if not args.no_report:
        print(f"wrote {write_section('serve', 'Forecast service (Ray Serve)', report_body(result))}", file=sys.stderr)
    return 0 if all(result["targets_met"].values()) else 1


if __name__ == "__main__":
    sys.exit(main())
