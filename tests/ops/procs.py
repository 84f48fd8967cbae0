"""Helpers for the operations tests that run real processes: a worker on the jobs harness's queue,
free ports, and Prometheus scrapes read back as numbers."""

from __future__ import annotations

import dataclasses
import json
import os
import socket
import subprocess
import sys
import urllib.request
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from tests.jobs.conftest import Harness

ROOT = Path(__file__).resolve().parents[2]

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def spawn_worker(
    harness: Harness, *, delay_s: float, log: Path, metrics_port: int = 0, **queue: object
) -> subprocess.Popen[bytes]:
    """``tests.ops.worker_proc`` on the harness's queue and database; stdout and stderr to ``log``."""
    config = {k: v for k, v in dataclasses.asdict(harness.config).items() if k != "spool_dir"}
    spec = {
        "database_url": harness.db.url.render_as_string(hide_password=False),
        "queue": {**config, **queue},
        "telegram_url": harness.telegram.url,
        "token": harness.telegram.token,
        "delay_s": delay_s,
        "metrics_port": metrics_port,
    }
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "tests.ops.worker_proc", json.dumps(spec)],
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )


def parse(text: str) -> Samples:
    """Every sample of a scrape: (name, labels) -> value."""
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def scrape(url: str) -> tuple[str, Samples]:
    """GET a /metrics endpoint: its content type and samples."""
    with urllib.request.urlopen(url, timeout=10) as response:
        return response.headers["Content-Type"], parse(response.read().decode())


def value(samples: Samples, name: str, **labels: str) -> float:
    """A sample's value, 0 when the series does not exist (yet)."""
    return samples.get((name, frozenset(labels.items())), 0.0)
