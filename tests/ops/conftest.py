"""Fixtures for the operations tests: an environment holding no swapbot setting, fresh Postgres
databases (migrated to a chosen revision) and the fake platforms with well-formed tokens."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from swapbot.settings import Settings
from tests.db.conftest import create_pg_database, drop_pg_database, pg_url
from tests.fakes.discord_server import FakeDiscord
from tests.fakes.telegram_server import FakeTelegram

ALIASES = tuple(field.alias for field in Settings.model_fields.values() if field.alias)
# Well formed, as @BotFather hands them out: digits, a colon, 35 of [A-Za-z0-9_-].
TELEGRAM_TOKEN = "7012345678:AAHfake-token-for-doctor_0123456789"
SECRET_KEY = "doctor-test-secret-key-0123456789abcdef"
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No swapbot variable from the outer environment, and a working directory without a .env."""
    for alias in ALIASES:
        monkeypatch.delenv(alias, raising=False)
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture
def postgres_at() -> Iterator:
    """``postgres_at(revision)``: the URL of a new Postgres database migrated to ``revision`` (None:
    empty); all dropped at the end."""
    from db.migrate import upgrade

    names: list[str] = []

    def make(revision: str | None = "head") -> str:
        name = asyncio.run(create_pg_database("swapbot_doctor"))
        names.append(name)
        if revision is not None:
            upgrade(pg_url(name), revision)
        return pg_url(name)

    yield make
    for name in names:
        asyncio.run(drop_pg_database(name))


@pytest.fixture
def telegram() -> Iterator[FakeTelegram]:
    with FakeTelegram(TELEGRAM_TOKEN) as fake:
        yield fake


@pytest.fixture
def discord() -> Iterator[FakeDiscord]:
    with FakeDiscord() as fake:
        yield fake


def run_swapbot(*args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    """``swapbot ARGS`` as a separate process with exactly ``env`` (plus PATH and HOME)."""
    base = {key: os.environ[key] for key in ("PATH", "HOME", "LANG") if key in os.environ}
    return subprocess.run(
        [sys.executable, "-m", "swapbot.cli", *args],
        env={**base, "PYTHONPATH": str(REPO), **env},
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )
