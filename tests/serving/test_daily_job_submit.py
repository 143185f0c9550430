"""The daily job runs through `ray job submit` unchanged: the RayJob's entrypoint
(`python -m ray_apps.forecast_daily ...`, as cluster/jobs/rayjob-forecast-daily.yaml runs it)
submitted through Ray's Job Submission API to the session's Ray cluster, which is what
`ray job submit` calls; the job succeeds and its forecasts are in the store."""

from __future__ import annotations

import os
import sys
import time
from datetime import date
from pathlib import Path

import pytest

from data.stores import open_forecasts

from serving_world import World, build_world

REPO_ROOT = Path(__file__).resolve().parents[2]
ENTRYPOINT = "python -m ray_apps.forecast_daily --cities DEL,MUM --date 2024-04-05 --as-of 2024-04-04T10:00 --json"


@pytest.fixture(scope="module")
def world(tiny_trained, tmp_path_factory: pytest.TempPathFactory) -> World:
    return build_world(tiny_trained, tmp_path_factory.mktemp("daily_submit"), None)


@pytest.mark.slow
def test_the_daily_job_submitted_to_ray_succeeds_and_stores_the_forecasts(ray_cluster, world: World) -> None:
    from ray.job_submission import JobStatus, JobSubmissionClient

    client = JobSubmissionClient(f"http://{ray_cluster.dashboard_url}")
    env = {"EFP_DATA_DIR": str(world.settings.data_dir), "EFP_REGISTRY_URI": world.settings.registry_uri,
           "EFP_ENVIRONMENT": "test",
           # `python` is this interpreter, and the package the one under test, as on a cluster's image.
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
           "PYTHONPATH": os.pathsep.join([str(REPO_ROOT), *filter(None, [os.environ.get("PYTHONPATH")])])}
    job = client.submit_job(entrypoint=ENTRYPOINT, runtime_env={"env_vars": env})
    deadline = time.monotonic() + 300
    while (status := client.get_job_status(job)) not in {JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.STOPPED}:
        assert time.monotonic() < deadline, f"job {job} still {status}"
        time.sleep(0.5)
    logs = client.get_job_logs(job)
    assert status == JobStatus.SUCCEEDED, logs[-3000:]
    assert '"status": "stored"' in logs and "forecasts.parquet" in logs
    for city in ("DEL", "MUM"):
        stored = [s for s in open_forecasts(world.settings).list(city) if s.target_day == date(2024, 4, 5)]
        assert [(s.source, s.blocks, s.lead_hours) for s in stored] == [("scheduled", 96, 14.0)], city
