"""Ray's own log lines go to a file; the console keeps ours (stages, epochs, boosting rounds).

With ``log_to_driver`` every line a Ray worker or actor writes to stdout/stderr is sent to
the driver and printed there, prefixed ``(RayTrainWorker pid=...)``. Under Ray Train v2
that includes, per report, "Reporting training result ..." (a worker logger that
propagates to the root logger, whose console handler Ray Train installs) and "Checkpoint
successfully created at ..." (``ray.train``), and from the detached placement-group
cleaner actor repeated "Failed to query Ray Train Controller actor state" warnings. Our
own ``[stage]``, ``[xgboost] round`` and ``[<member>] epoch`` lines arrive the same way
(rank 0 prints them; Ray Train's print patch sends them through the same logger).

``route_ray_logs`` replaces the driver's printing handler (Ray's ``ray_print_logs`` on
``global_worker_stdstream_dispatcher``) by ``ForwardedLogs``: every forwarded line is
appended to ``<data_dir>/logs/ray.log`` with its source, and only our lines, and lines
that report an error, are handed on to Ray's printer, on stderr (stdout carries results,
e.g. ``--json``). Records of the driver's own ``ray.train`` logger go to the same file
(warnings and errors still reach stderr); Ray Data's INFO lines stay in its own
``ray-data.log`` (``configs/ray_data_logging.yaml``, set by ``init_ray``).
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
import re
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TextIO

#: Our progress lines: ``[stage] ...``, ``[xgboost] round 50: ...``, ``[lstm] epoch 3: ...``.
OUR_LINE = re.compile(r"^\[(stage|[\w.-]+\] (round|epoch) \d)")
#: Lines that are kept on the console whatever their source: a failure must be seen.
ERROR_LINE = re.compile(r"Traceback \(most recent call last\)|\bERROR\b|^\w*(Error|Exception)\b")
#: Ray Train's driver-side logger; its records go to the file like the workers' lines.
DRIVER_LOGGERS = ("ray.train",)
DUPLICATE_WINDOW_S = 2.0
HANDLER_NAME = "ray_print_logs"  # the name Ray's own handler is registered (and removed at shutdown) under


def keep_on_console(line: str) -> bool:
    """True for our own progress lines and for error lines; False for Ray's chatter."""
    return bool(OUR_LINE.match(line.lstrip()) or ERROR_LINE.search(line))


class ForwardedLogs:
    """A handler of Ray's worker-log dispatcher: file gets every line, ``printer`` only ours.

    ``data`` is Ray's batch: ``{"lines": [...], "pid": ..., "actor_name"/"task_name": ...,
    "is_err": bool, ...}``; ``printer`` is Ray's ``print_to_stdstream`` (prefix, dedup)."""

    def __init__(self, path: Path, printer: Callable[[dict], None], *, notice: TextIO | None = None) -> None:
        self.path, self.printer, self.notice = path, printer, notice
        self.diverted = 0
        self._lock = threading.Lock()
        # Ray Train's print patch sends each worker print twice (stdout and its logger), moments apart:
        # the same line from the same process within ``DUPLICATE_WINDOW_S`` is kept once.
        self._recent: dict[tuple[Any, str], float] = {}
        path.parent.mkdir(parents=True, exist_ok=True)
        self._file = path.open("a", encoding="utf-8", buffering=1)

    def __call__(self, data: dict[str, Any]) -> None:
        lines = [str(line) for line in data.get("lines") or []]
        source = data.get("actor_name") or data.get("task_name") or ""
        stamp = dt.datetime.now().isoformat(timespec="seconds")
        tag = f"({source} pid={data.get('pid')}{' stderr' if data.get('is_err') else ''})".replace("( ", "(")
        pid = data.get("pid")
        with self._lock:
            now = time.monotonic()
            self._recent = {key: seen for key, seen in self._recent.items() if now - seen < DUPLICATE_WINDOW_S}
            fresh = []
            for line in lines:
                if (pid, line) not in self._recent:
                    self._recent[(pid, line)] = now
                    fresh.append(line)
            kept = [line for line in fresh if keep_on_console(line)]
            for line in fresh:
                self._file.write(f"{stamp} {tag} {line}\n")
            first = self.diverted == 0 and len(kept) < len(fresh)
            self.diverted += len(fresh) - len(kept)
        if first and self.notice is not None:
            print(f"(Ray's own log lines: {self.path})", file=self.notice, flush=True)
        if kept:  # on stderr, like every progress line: stdout is for results (`--json`)
            self.printer({**data, "lines": kept, "is_err": True})

    def close(self) -> None:
        with self._lock:
            self._file.close()


def _driver_logger_handlers(path: Path) -> None:
    """Send the driver's ``ray.train`` records to ``path``; only warnings and worse to stderr."""
    to_file = logging.FileHandler(path, encoding="utf-8")
    to_file.setFormatter(logging.Formatter("%(asctime)s (driver) %(levelname)s %(name)s: %(message)s"))
    to_stderr = logging.StreamHandler(sys.stderr)
    to_stderr.setLevel(logging.WARNING)
    for name in DRIVER_LOGGERS:
        logger = logging.getLogger(name)
        if any(getattr(handler, "_efp", False) for handler in logger.handlers):
            continue
        for handler in (to_file, to_stderr):
            handler._efp = True  # type: ignore[attr-defined]
            logger.addHandler(handler)
        logger.propagate = False


def route_ray_logs(data_dir: Path) -> ForwardedLogs:
    """Install ``ForwardedLogs`` in place of Ray's printer on this (connected) driver."""
    from ray._private import worker as ray_worker

    path = Path(data_dir) / "logs" / "ray.log"
    printer = functools.partial(ray_worker.print_to_stdstream,
                                ignore_prefix=ray_worker._should_ignore_worker_log_prefix(ray_worker.global_worker))
    forwarded = ForwardedLogs(path, printer, notice=sys.stderr)
    dispatcher = ray_worker.global_worker_stdstream_dispatcher
    dispatcher.remove_handler(HANDLER_NAME)
    dispatcher.add_handler(HANDLER_NAME, forwarded)
    _driver_logger_handlers(path)
    return forwarded
