"""Console output a person can read: Ray's own per-report, checkpoint and controller lines go
to <data_dir>/logs/ray.log while our [stage]/epoch/round lines stay on the console, and the
CLI's and the demo's tables fit an 80-column terminal with no heading cut to ``fir…``.

No Ray is started here: the log routing is tested on the handler Ray's dispatcher calls,
with the lines Ray 2.60's Train v2 writes (ray/train/v2/_internal/execution/context.py,
storage.py, controller/placement_group_cleaner.py)."""

from __future__ import annotations

import datetime as dt
import io
import logging
import sys
from pathlib import Path

import pytest
from rich.console import Console
from typer.testing import CliRunner

from ray_apps import ray_logs
from ray_apps.cli import app, output, train_command
from ray_apps.ray_logs import ForwardedLogs, keep_on_console

RAY_LINES = [
    "Reporting training result 3: TrainingReport(checkpoint=Checkpoint(filesystem=local, path=/tmp/ckpt_000002), "
    "metrics={'val_loss': 0.0712, 'epoch': 2}, validation_spec=None) from rank 0",
    "Checkpoint successfully created at: Checkpoint(filesystem=local, path=/tmp/efp/train/checkpoint_000002)",
    "Failed to query Ray Train Controller actor state. State API may be temporarily unavailable. Continuing to monitor.",
    "Attempting to start training worker group of size 2 with the following resources: [{'CPU': 1}] * 2",
]
OUR_LINES = [
    "[stage] training lstm (Ray Train)",
    "[xgboost] round 50: validation pinball 0.0734",
    "[lstm] epoch 3: train pinball 0.0811 validation pinball 0.0790 (5120 samples/s)",
    "[transformer] epoch 1: train pinball 0.1201 validation pinball 0.1100 (2048 samples/s)",
]
ERROR_LINES = ["Traceback (most recent call last):", "RuntimeError: CUDA out of memory"]


def test_ours_and_errors_stay_on_the_console_rays_lines_do_not() -> None:
    assert all(keep_on_console(line) for line in OUR_LINES + ERROR_LINES)
    assert not any(keep_on_console(line) for line in RAY_LINES)


def test_forwarded_lines_all_reach_the_file_only_ours_the_printer(tmp_path: Path) -> None:
    printed: list[dict] = []
    notice = io.StringIO()
    forwarded = ForwardedLogs(tmp_path / "logs" / "ray.log", printed.append, notice=notice)
    batch = {"lines": [RAY_LINES[0], OUR_LINES[2], RAY_LINES[1]], "pid": 4242, "actor_name": "RayTrainWorker", "is_err": True}
    forwarded(batch)
    forwarded({"lines": [RAY_LINES[2]] * 3, "pid": 99, "actor_name": "PlacementGroupCleaner", "is_err": True})
    forwarded.close()

    assert printed == [{**batch, "lines": [OUR_LINES[2]]}]  # Ray's printer keeps its pid prefix and dedup
    written = (tmp_path / "logs" / "ray.log").read_text(encoding="utf-8").splitlines()
    assert len(written) == 4  # the cleaner's repeated warning is kept once
    assert "(RayTrainWorker pid=4242 stderr) Reporting training result 3" in written[0]
    assert written[-1].endswith(RAY_LINES[2]) and "(PlacementGroupCleaner pid=99 stderr)" in written[-1]
    assert notice.getvalue().count("ray.log") == 1  # said once, not per diverted line


def test_a_worker_line_sent_twice_is_printed_once(tmp_path: Path) -> None:
    """Ray Train forwards each rank-0 print both from stdout and from its logger."""
    printed: list[dict] = []
    forwarded = ForwardedLogs(tmp_path / "ray.log", printed.append)
    line = "[xgboost] round 50: validation pinball 0.0094"
    forwarded({"lines": [line], "pid": 7, "actor_name": "RayTrainWorker", "is_err": False})
    forwarded({"lines": [line], "pid": 7, "actor_name": "RayTrainWorker", "is_err": True})
    forwarded({"lines": [line], "pid": 8, "actor_name": "RayTrainWorker", "is_err": False})  # another worker's own line
    forwarded.close()
    assert [batch["pid"] for batch in printed] == [7, 8]
    assert all(batch["is_err"] for batch in printed)  # progress goes to stderr: stdout carries `--json` results


def test_route_replaces_rays_printer_on_the_dispatcher(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from ray._private import worker as ray_worker

    dispatcher = ray_worker.global_worker_stdstream_dispatcher
    monkeypatch.setattr(dispatcher, "handlers", [("ray_print_logs", print), ("other", len)])
    train_logger = logging.getLogger("ray.train")
    monkeypatch.setattr(train_logger, "handlers", [])
    monkeypatch.setattr(train_logger, "propagate", True)

    forwarded = ray_logs.route_ray_logs(tmp_path)
    try:
        assert [name for name, _ in dispatcher.handlers] == ["other", "ray_print_logs"]
        assert dispatcher.handlers[1][1] is forwarded
        assert forwarded.path == tmp_path / "logs" / "ray.log"
        train_logger.info("Checkpoint successfully created at: somewhere")
        assert train_logger.propagate is False
        assert "Checkpoint successfully created" in forwarded.path.read_text(encoding="utf-8")
    finally:
        forwarded.close()
        for handler in train_logger.handlers:
            handler.close()


def _assert_fits(text: str, headings: list[str]) -> None:
    lines = text.splitlines()
    assert "…" not in text, text
    assert all(len(line) <= 80 for line in lines), text
    heading_line = next(line for line in lines if line.split()[:1] == headings[:1])
    assert heading_line.split() == headings, text


def test_quality_table_fits_80_columns() -> None:
    row = {"city": "DEL", "rows": 1_038_400, "first": "2024-01-01T00:00:00+00:00", "last": "2025-02-03T23:45:00+00:00",
           "days": 400.0, "resolution_min": 15, "imputed_pct": 11.234, "shedding_pct": 0.52, "outlier_pct": 100.0,
           "gaps": 3, "missing_blocks": 1200, "quarantined": 41}
    console = Console(width=80, record=True)
    console.print(output.quality_view([row, dict(row, city="MUM")]))
    text = console.export_text()
    _assert_fits(text, list(output.QUALITY_HEADINGS.values()))
    assert "2025-02-03" in text and "1038400" in text


@pytest.mark.parametrize("title", ["Serve and forecast DEL's tomorrow, issued now",
                                   "Backtest DEL 2026-11-19..2026-12-02: one day-ahead forecast per day at 00:00 local"])
def test_demo_stage_headings_are_never_cut_at_80_columns(title: str) -> None:
    from ray_apps.demo import Stages

    console = Console(width=80, record=True)
    Stages(console, 5).next(title)
    text = console.export_text()
    assert "…" not in text and " ".join(text.split()).count(title) == 1, text
    assert all(len(line) <= 80 for line in text.splitlines())


def test_demo_backtest_table_fits_80_columns() -> None:
    from ray_apps.demo import _backtest_table
    from training.metrics import METRIC_NAMES

    class Report:
        city, start, end, days, version, weather = "DEL", dt.date(2024, 11, 1), dt.date(2024, 11, 14), 14, "v0007", "observed"
        metrics = {name: dict(zip(METRIC_NAMES, (3.21, 3.1, 0.81, 1234.5, 123.4, 0.8, 0.75)))
                   for name in ("ensemble", "xgboost", "lstm", "transformer", "seasonal_naive_day", "seasonal_naive_week")}

    console = Console(width=80, record=True)
    _backtest_table(console, Report())
    _assert_fits(console.export_text(), ["model", *METRIC_NAMES])


def test_efp_train_prints_our_lines_whole_and_a_table_that_fits_80_columns(monkeypatch: pytest.MonkeyPatch) -> None:
    """``efp train``'s console: the lines the pipeline logs keep their ``[stage]``/``[lstm]``
    prefixes (rich markup used to swallow them as tags) and the metrics table is whole at
    80 columns. The fit itself is replaced (a real tiny ``--local`` fit takes minutes on a
    shared machine); the lines and the report's shape are the pipeline's."""
    import ray_apps.train as train_job
    from training.metrics import METRIC_NAMES

    names = ("xgboost", "lstm", "transformer", "ensemble", "seasonal_naive_day", "seasonal_naive_week")

    class Report:
        version, cities, duration_s = "20250101T000000Z-7db9ff", ["DEL", "MUM", "BLR"], 42.0
        metrics = {"all": {name: dict(zip(METRIC_NAMES, (3.21, 3.1, 0.812, 1234.5, 123.4, 0.8, 0.75))) for name in names}}
        cv_metrics = {fold: {name: {"mape": mape, "coverage": 0.8} for name in names[:4]}
                      for fold, mape in (("test", 2.5), ("cv1", 2.25), ("cv2", 2.75))}

    def fake_training(options, log):
        for line in OUR_LINES:
            log(line)
        return Report()

    monkeypatch.setattr(train_job, "run_training", fake_training)
    console = Console(width=80, record=True)
    monkeypatch.setattr(output, "console", console)
    monkeypatch.setattr(train_command, "console", console)
    result = CliRunner().invoke(app, ["train", "--local", "--cities", "DEL"])
    assert result.exit_code == 0, result.output
    text = console.export_text()
    assert all(line in text for line in OUR_LINES), text
    assert "registered 20250101T000000Z-7db9ff as candidate" in text
    _assert_fits(text[text.index("forecaster"):text.index("MAPE % by fold")], ["forecaster", *METRIC_NAMES])
    folds = text[text.index("MAPE % by fold (lead 0)"):]
    _assert_fits(folds, ["forecaster", "test", "cv1", "cv2"])
    assert ["lstm", "2.500", "2.250", "2.750"] in [line.split() for line in folds.splitlines()], folds


def test_ray_data_info_lines_stay_in_its_log_file_and_stdout_stays_clean(tmp_path: Path) -> None:
    """A job that runs Ray Data through init_ray: nothing of Ray Data's INFO chatter on the
    console, and worker progress lines on stderr, so `--json` output on stdout parses."""
    import json
    import os
    import subprocess

    probe = (
        "import json, ray\n"
        "from data.settings import load_settings\n"
        "from ray_apps.runtime import init_ray\n"
        f"init_ray(load_settings(data_dir={str(tmp_path / 'var')!r}, environment='test'), num_cpus=2)\n"
        "import ray.data\n"  # as the platform's code does: lazily, after the entrypoint started Ray
        "@ray.remote\n"
        "def progress():\n"
        "    print('[xgboost] round 10: validation pinball 0.0100', flush=True)\n"
        "ray.get(progress.remote())\n"
        "rows = ray.data.range(20).map_batches(lambda b: b, batch_size=5).materialize().count()\n"
        "import time; time.sleep(1.5)\n"
        "print(json.dumps({'rows': rows}))\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAY_DATA_LOGGING")}
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=180, env=env,
                          cwd=Path(__file__).resolve().parents[1])
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads(done.stdout) == {"rows": 20}
    assert "Starting execution of Dataset" not in done.stderr
    assert "[xgboost] round 10" in done.stderr
