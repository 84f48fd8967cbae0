"""Run the Alembic migrations in ``migrations/`` against a database URL (``swapbot db upgrade``)."""

from __future__ import annotations

from collections.abc import Callable
from importlib.resources import files

from alembic import command
from alembic.config import Config
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine


def alembic_config(url: str | None = None) -> Config:
    """An Alembic config without an ini file. The URL travels in ``attributes``, not in the ini-style
    options, so characters such as ``%`` in passwords need no escaping."""
    config = Config()
    config.set_main_option("script_location", str(files("migrations")))
    if url is not None:
        config.attributes["url"] = url
    return config


def upgrade(url: str, revision: str = "head") -> None:
    """Synchronous entry point (runs its own event loop): for the command line."""
    command.upgrade(alembic_config(url), revision)


def downgrade(url: str, revision: str = "base") -> None:
    command.downgrade(alembic_config(url), revision)


async def upgrade_engine(engine: AsyncEngine, revision: str = "head") -> None:
    """The same from inside a running event loop, on an engine the caller already has."""
    async with engine.begin() as connection:
        await connection.run_sync(_run, command.upgrade, revision)


async def downgrade_engine(engine: AsyncEngine, revision: str = "base") -> None:
    async with engine.begin() as connection:
        await connection.run_sync(_run, command.downgrade, revision)


def _run(connection: Connection, action: Callable[[Config, str], None], revision: str) -> None:
    config = alembic_config()
    config.attributes["connection"] = connection
    action(config, revision)
