"""A real worker process for the metrics and shutdown tests: ``jobs.worker.serve`` (what ``swapbot
worker`` runs) with the square engine, serving /metrics on a port.

python -m tests.ops.worker_proc '<json: database_url, queue, telegram_url, token, delay_s, metrics_port>'
"""

from __future__ import annotations

import asyncio
import json
import sys

from bot.texts import Catalogue
from jobs.config import QueueConfig, TelegramConfig, WorkerConfig
from jobs.worker import serve
from swapbot.logging import configure_logging
from tests.jobs.squares import SquareEngine


def main() -> None:
    spec = json.loads(sys.argv[1])
    configure_logging("INFO", json=True)
    config = WorkerConfig(
        database_url=spec["database_url"],
        queue=QueueConfig(**spec["queue"]),
        telegram=TelegramConfig(spec["token"], spec["telegram_url"]),
        metrics_port=int(spec["metrics_port"]),
    )
    delay_s = float(spec["delay_s"])
    asyncio.run(serve(config, engine_factory=lambda _: SquareEngine(delay_s=delay_s), texts=Catalogue()))


if __name__ == "__main__":
    main()
