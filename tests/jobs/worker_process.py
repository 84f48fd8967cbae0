"""A real ``swapbot worker`` process for the crash test: ``jobs.worker.serve`` with the square engine.

python -m tests.jobs.worker_process '<json: database_url, queue, telegram_url, token, delay_s>'
"""

from __future__ import annotations

import asyncio
import json
import sys

from bot.texts import Catalogue
from jobs.config import QueueConfig, TelegramConfig, WorkerConfig
from jobs.worker import serve
from tests.jobs.squares import SquareEngine


def main() -> None:
    spec = json.loads(sys.argv[1])
    config = WorkerConfig(
        database_url=spec["database_url"],
        queue=QueueConfig(**spec["queue"]),
        telegram=TelegramConfig(spec["token"], spec["telegram_url"]),
    )
    delay_s = float(spec["delay_s"])
    asyncio.run(serve(config, engine_factory=lambda _: SquareEngine(delay_s=delay_s), texts=Catalogue()))


if __name__ == "__main__":
    main()
