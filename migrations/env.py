"""Alembic environment: the URL comes from ``db.migrate`` (no alembic.ini), the target is db.models.

Given a connection in ``config.attributes["connection"]`` it migrates on that connection; otherwise it
opens the async engine for ``config.attributes["url"]`` itself.
"""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy import pool
from sqlalchemy.engine import Connection

from db.models import Base
from db.session import create_engine

config = context.config
target_metadata = Base.metadata


def _configure(**kwargs: object) -> None:
    context.configure(target_metadata=target_metadata, compare_type=True, **kwargs)


def _run_on(connection: Connection) -> None:
    # SQLite cannot ALTER most things: later revisions rebuild tables in batch mode there.
    _configure(connection=connection, render_as_batch=connection.dialect.name == "sqlite")
    with context.begin_transaction():
        context.run_migrations()


async def _run_async(url: str) -> None:
    engine = create_engine(url, poolclass=pool.NullPool)
    try:
        async with engine.connect() as connection:
            await connection.run_sync(_run_on)
            await connection.commit()
    finally:
        await engine.dispose()


def _url() -> str:
    return str(config.attributes.get("url") or config.get_main_option("sqlalchemy.url"))


if context.is_offline_mode():
    _configure(url=_url(), literal_binds=True, dialect_opts={"paramstyle": "named"})
    with context.begin_transaction():
        context.run_migrations()
elif (given := config.attributes.get("connection")) is not None:
    _run_on(given)
else:
    asyncio.run(_run_async(_url()))
