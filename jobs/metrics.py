"""The Prometheus metrics of every swapbot process, on one registry of our own.

``swapbot web`` serves them at ``/metrics``, each ``swapbot worker`` on SWAPBOT_METRICS_PORT. Labels
name kinds, outcomes, stages, platforms, providers and error codes: never a user, chat or job id (one
time series per user would grow without bound). The Grafana dashboard in docker/grafana reads these
exact names.

A registry of our own, not prometheus_client's global one: tests read values from it without the
library's process and platform collectors, and nothing another library registers leaks into ours.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar
from wsgiref.simple_server import WSGIServer

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    Info,
    generate_latest,
    start_http_server,
)

T = TypeVar("T")

REGISTRY = CollectorRegistry(auto_describe=True)

STAGES = ("decode", "detect", "embed", "swap", "restore", "encode")
# Seconds: a queue wait runs from milliseconds (idle workers) to many minutes (a backlog).
WAIT_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600)
# Seconds: an engine stage from a millisecond (a GPU swap) to a minute (cnn detection of 12 MP on a CPU).
STAGE_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)

JOBS = Counter("swapbot_jobs", "Job attempts by kind and outcome", ("kind", "outcome"), registry=REGISTRY)
QUEUE_DEPTH = Gauge("swapbot_queue_depth", "Jobs waiting to be started", registry=REGISTRY)
QUEUE_WAIT = Histogram(
    "swapbot_queue_wait_seconds",
    "From a job being queued to a worker starting it",
    buckets=WAIT_BUCKETS,
    registry=REGISTRY,
)
ENGINE_STAGE = Histogram(
    "swapbot_engine_stage_seconds",
    "Engine work by stage (decode, detect, embed, swap, restore, encode)",
    ("stage",),
    buckets=STAGE_BUCKETS,
    registry=REGISTRY,
)
DELIVERIES = Counter(
    "swapbot_deliveries",
    "Result deliveries by platform and outcome",
    ("platform", "outcome"),
    registry=REGISTRY,
)
DELIVERY_RETRIES = Counter(
    "swapbot_delivery_retries", "Deliveries tried again in place", ("platform",), registry=REGISTRY
)
PAYMENTS = Counter(
    "swapbot_payments", "Payments credited (first time only)", ("provider",), registry=REGISTRY
)
CREDITS_SOLD = Counter("swapbot_credits_sold", "Credits sold", ("provider",), registry=REGISTRY)
PLATFORM_API_ERRORS = Counter(
    "swapbot_platform_api_errors",
    "Failed Telegram and Discord API calls by platform and code",
    ("platform", "code"),
    registry=REGISTRY,
)
CONTENT_BLOCKED = Counter(
    "swapbot_content_blocked",
    "Images the content guard refused, by where (input or result)",
    ("stage",),
    registry=REGISTRY,
)
REPORTS = Counter(
    "swapbot_reports", "Results reported by users, by platform", ("platform",), registry=REGISTRY
)
WORKER = Info("swapbot_worker", "The worker's engine and onnxruntime providers", registry=REGISTRY)


@contextmanager
def stage(name: str) -> Iterator[None]:
    """Time one engine stage (runs in the engine threads; prometheus_client is thread-safe)."""
    started = time.perf_counter()
    try:
        yield
    finally:
        ENGINE_STAGE.labels(stage=name).observe(time.perf_counter() - started)


def record_payment(provider: str, credits: int) -> None:
    """A payment credited for the first time (a replayed one must not call this)."""
    PAYMENTS.labels(provider=provider).inc()
    CREDITS_SOLD.labels(provider=provider).inc(credits)


async def counted(platform: str, classify: Callable[[BaseException], str], request: Awaitable[T]) -> T:
    """One platform API call, each failure counted under ``classify``'s code before it goes on up."""
    try:
        return await request
    except Exception as exc:
        PLATFORM_API_ERRORS.labels(platform=platform, code=classify(exc)).inc()
        raise


def exposition() -> tuple[bytes, str]:
    """The text format and its content type, for an HTTP handler of our own (``swapbot web``)."""
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST


class MetricsServer:
    """``/metrics`` on ``port`` in a thread of its own (prometheus_client's server), for workers:
    a scrape is answered even while the event loop is busy."""

    def __init__(self, port: int, host: str = "0.0.0.0") -> None:
        server, thread = start_http_server(port, addr=host, registry=REGISTRY)
        self._server: WSGIServer = server
        self._thread: threading.Thread = thread
        self.port: int = server.server_port

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
