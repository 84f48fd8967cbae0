"""Benchmarks print their table: the services under test log warnings and errors only."""

from __future__ import annotations

import logging

from swapbot.logging import configure_logging


def quiet_logs() -> None:
    configure_logging("WARNING")
    # configure_logging keeps the lines that say what a migration did; a benchmark migrates a fresh database.
    logging.getLogger("alembic.runtime.migration").setLevel(logging.WARNING)
