"""One ASGI middleware for what every request needs: the body-size limit (413, declared or chunked), request
metrics, a ``Server-Timing`` header (serving/timing.py), and one access-log line (method, path, status,
time, caller id, client address; never a secret).

Pure ASGI rather than ``BaseHTTPMiddleware``: it adds microseconds, not a task per request.
"""

from __future__ import annotations

import json
import logging
import logging.handlers
import sys
import threading
import time
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from serving import timing
from serving.metrics import ServiceMetrics

access_log = logging.getLogger("efp.access")


def _ensure_access_log_output() -> None:
    """Access lines are INFO; where nothing configured logging (a Serve replica), send them to stderr."""
    access_log.setLevel(logging.INFO)
    if not access_log.handlers and not logging.getLogger().handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(message)s"))
        access_log.addHandler(handler)


class _Fanout(logging.Handler):
    """Hands each record to the handlers the access log wrote to before it was buffered."""

    def __init__(self, handlers: list[logging.Handler]) -> None:
        super().__init__()
        self._handlers = handlers

    def emit(self, record: logging.LogRecord) -> None:
        for handler in self._handlers:
            if record.levelno >= handler.level:
                handler.handle(record)


def buffer_access_log(flush_every_s: float = 1.0, capacity: int = 1000) -> logging.handlers.MemoryHandler:
    """Write access lines in batches, each at most ``flush_every_s`` late (a warning or error at once).

    For a Serve replica, where each line went straight to the worker's log stream: a write
    and flush per request took a tenth of the ingress's GIL time on cache hits (issue 10's
    profile). Serve buffers its own request log the same way under throughput-optimised mode."""
    _ensure_access_log_output()
    targets = list(access_log.handlers or logging.getLogger().handlers)
    buffered = logging.handlers.MemoryHandler(capacity, flushLevel=logging.WARNING, target=_Fanout(targets))
    access_log.handlers = [buffered]
    access_log.propagate = False

    def flush_periodically() -> None:
        while True:
            time.sleep(flush_every_s)
            buffered.flush()

    threading.Thread(target=flush_periodically, name="efp-access-log-flush", daemon=True).start()
    return buffered


class _TooLarge(Exception):
    pass


def _replay(messages: list[Message], receive: Receive) -> Receive:
    """A ``receive`` that hands out the buffered body first, then waits on the real one (disconnect)."""
    pending = list(messages)

    async def replayed() -> Message:
        return pending.pop(0) if pending else await receive()

    return replayed


class ServiceMiddleware:
    def __init__(self, app: ASGIApp, *, max_body_bytes: int, metrics: ServiceMetrics) -> None:
        self.app = app
        self.max_body = max_body_bytes
        self.metrics = metrics
        _ensure_access_log_output()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        began = time.perf_counter()
        state: dict[str, Any] = {"status": 500, "started": False}
        scope.setdefault("state", {})
        timings = timing.begin()

        async def send_wrapper(message: Message) -> None:
            if message["type"] == "http.response.start":
                state["status"], state["started"] = message["status"], True
                message = {**message, "headers": [*message.get("headers", []), (b"server-timing", timings.header())]}
            await send(message)

        try:
            if self._declared_length(scope) > self.max_body:
                raise _TooLarge()
            body = await self._read_body(receive)
            await self.app(scope, _replay(body, receive), send_wrapper)
        except _TooLarge:
            if not state["started"]:
                await self._too_large(send_wrapper)
        finally:
            route = scope.get("route")
            label = getattr(route, "path", None) or "unmatched"
            elapsed = time.perf_counter() - began
            self.metrics.requests.labels(label, str(state["status"])).inc()
            self.metrics.latency.labels(label).observe(elapsed)
            caller = scope["state"].get("caller", "-")
            client = (scope.get("client") or ("-",))[0]
            access_log.info("%s %s %s %.1fms caller=%s client=%s", scope["method"], scope["path"], state["status"],
                            elapsed * 1000, caller, client)

    async def _read_body(self, receive: Receive) -> list[Message]:
        """The whole request body, read here so an oversized chunked body is our 413: raised inside
        the app's own body read, FastAPI would turn it into a 400. Bodies are at most ``max_body``."""
        messages: list[Message] = []
        received = 0
        while True:
            message = await receive()
            messages.append(message)
            if message["type"] != "http.request":
                return messages
            received += len(message.get("body", b""))
            if received > self.max_body:
                raise _TooLarge()
            if not message.get("more_body", False):
                return messages

    @staticmethod
    def _declared_length(scope: Scope) -> int:
        for name, value in scope.get("headers", []):
            if name == b"content-length":
                try:
                    return int(value)
                except ValueError:
                    return 0
        return 0

    async def _too_large(self, send: Send) -> None:
        body = json.dumps({"detail": f"request body larger than {self.max_body} bytes"}).encode()
        await send({"type": "http.response.start", "status": 413,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})
