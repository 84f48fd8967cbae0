"""Helpers for the operations tests that run real processes: a worker on the jobs harness's queue,
free ports, and Prometheus scrapes read back as numbers."""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
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


def bare_env() -> dict[str, str]:
    """This process's environment without any of swapbot's settings: a child configured only by what a
    test adds."""
    prefixes = ("SWAPBOT_", "TELEGRAM_", "DATABASE_", "REDIS_", "DISCORD_", "STRIPE_")
    return {key: value for key, value in os.environ.items() if not key.startswith(prefixes)}


def sigterm_when(env: dict[str, str], cwd: Path, ready: Callable[[], bool], what: str) -> tuple[int, str]:
    """``swapbot run`` with ``env``, sent SIGTERM once ``ready()``: its exit status and output."""
    swapbot = Path(sys.executable).with_name("swapbot")
    process = subprocess.Popen(
        [str(swapbot), "run"], cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    try:
        deadline = time.monotonic() + 180
        while not ready():
            assert process.poll() is None, process.stdout.read().decode() if process.stdout else ""
            assert time.monotonic() < deadline, f"gave up waiting for {what}"
            time.sleep(0.1)
        process.send_signal(signal.SIGTERM)
        output = process.communicate(timeout=60)[0].decode()
    finally:
        if process.poll() is None:
            process.kill()
    return process.returncode, output


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
