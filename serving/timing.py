"""Where one request's time went, answered in a ``Server-Timing`` header (W3C Server Timing).

The middleware opens a :class:`RequestTimings` per request in a context variable; the
service and the engines wrap their stages in :func:`span` (cache lookup, Preprocessor,
members, Ensemble); the header lists each stage and ``app`` (the ingress's whole time), so
a client, a browser's network panel or the serve benchmark sees the per-hop breakdown of
real requests without a tracing backend. The proxy's share is what the client measured
minus ``app``.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

APP_SPAN = "app"


class RequestTimings:
    def __init__(self) -> None:
        self.began = time.perf_counter()
        self.spans: dict[str, float] = {}

    def add(self, name: str, seconds: float) -> None:
        self.spans[name] = self.spans.get(name, 0.0) + seconds

    def header(self) -> bytes:
        """``name;dur=<ms>`` per stage, then ``app`` (the time from the request's arrival to now)."""
        parts = [f"{name};dur={seconds * 1000:.2f}" for name, seconds in self.spans.items()]
        parts.append(f"{APP_SPAN};dur={(time.perf_counter() - self.began) * 1000:.2f}")
        return ", ".join(parts).encode("ascii")


_current: ContextVar[RequestTimings | None] = ContextVar("efp_request_timings", default=None)


def begin() -> RequestTimings:
    """Start timing the request handled in this context."""
    timings = RequestTimings()
    _current.set(timings)
    return timings


@contextmanager
def span(name: str) -> Iterator[None]:
    """Time a stage of the current request; outside a request (a job, a test) it costs one lookup."""
    timings = _current.get()
    if timings is None:
        yield
        return
    began = time.perf_counter()
    try:
        yield
    finally:
        timings.add(name, time.perf_counter() - began)


def parse(header: str) -> dict[str, float]:
    """A ``Server-Timing`` value back into milliseconds per stage (the benchmark's reader)."""
    out: dict[str, float] = {}
    for part in header.split(","):
        name, _, rest = part.strip().partition(";")
        for param in rest.split(";"):
            key, _, value = param.strip().partition("=")
            if key == "dur" and name:
                out[name] = float(value)
    return out
