"""Typed settings: packs, admins, the secret key, and one error line per malformed variable."""

from __future__ import annotations

import asyncio
import re
import stat
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import asyncpg
import pytest
from pydantic import ValidationError
from typer.testing import CliRunner

from bot.pricing import DEFAULT_PACKS, Money, Pack, pack_of, parse_packs
from swapbot.cli import app
from swapbot.secret_key import SecretKeyError, resolve_secret_key
from swapbot.settings import EXAMPLES, Settings
from tests.db.conftest import PG_SERVER, create_pg_database, drop_pg_database, pg_url

runner = CliRunner()
KEY = "k" * 40


def test_packs_parse_into_typed_packs() -> None:
    packs = parse_packs(" 10:100:199USD, 50:450 ,200:1500:500jpy")
    assert packs == (
        Pack(10, 100, Money(199, "usd")),
        Pack(50, 450, None),
        Pack(200, 1500, Money(500, "jpy")),
    )
    assert pack_of(packs, 50) == Pack(50, 450) and pack_of(packs, 7) is None
    assert parse_packs("") == ()
    assert Settings().packs == parse_packs(DEFAULT_PACKS)
    assert all(pack.stripe is not None for pack in parse_packs(DEFAULT_PACKS))


@pytest.mark.parametrize(
    ("value", "says"),
    [
        ("10:abc", '"10:abc" is not credits:stars[:amount+currency]'),
        ("10", "is not credits:stars"),
        ("10:100:199", "is not credits:stars"),
        ("0:100", "must be positive"),
        ("10:0:199usd", "must be positive"),
        ("10:100:0usd", "amount must be positive"),
        ("10:100:199xyz", "XYZ is not a currency"),
        ("10:100:199usd,10:90", "two packs of 10 credits"),
    ],
)
def test_malformed_packs_say_what_is_wrong(value: str, says: str) -> None:
    with pytest.raises(ValueError, match=re.escape(says)):
        parse_packs(value)


def test_admin_ids_are_platform_and_id_pairs() -> None:
    settings = Settings(SWAPBOT_ADMIN_IDS="telegram:123, Discord:456789012345678901,telegram:123")
    assert settings.admin_ids == {("telegram", "123"), ("discord", "456789012345678901")}
    assert settings.is_admin("telegram", 123) and settings.is_admin("discord", "456789012345678901")
    assert not settings.is_admin("discord", 123) and not settings.is_admin("telegram", "456")
    assert Settings().admin_ids == frozenset()
    for bad in ("slack:1", "telegram:abc", "telegram", "123"):
        with pytest.raises(ValidationError, match="SWAPBOT_ADMIN_IDS"):
            Settings(SWAPBOT_ADMIN_IDS=bad)


def test_every_variable_has_an_example() -> None:
    assert set(EXAMPLES) == {field.alias for field in Settings.model_fields.values()}


def _run(env: dict[str, str], *argv: str):
    return runner.invoke(app, list(argv or ("models", "list")), env=env)


@pytest.mark.parametrize(
    ("env", "line"),
    [
        (
            {"SWAPBOT_PACKS": "10:abc"},
            'error: SWAPBOT_PACKS: "10:abc" is not credits:stars[:amount+currency]; '
            "example: 10:100:199usd,50:450:899usd",
        ),
        (
            {"SWAPBOT_ADMIN_IDS": "telegram:123,slack:9"},
            'error: SWAPBOT_ADMIN_IDS: "slack:9" is not platform:id with platform telegram or discord; '
            "example: telegram:123,discord:456",
        ),
        (
            {"SWAPBOT_FREE_CREDITS": "lots"},
            'error: SWAPBOT_FREE_CREDITS: "lots": input should be a valid integer, unable to parse string '
            "as an integer; example: 3",
        ),
        (
            {"SWAPBOT_ENGINE": "gpu"},
            "error: SWAPBOT_ENGINE: \"gpu\": input should be 'classic' or 'onnx'; example: classic",
        ),
        (
            {"DATABASE_URL": "mysql://root:hunter2@db/swapbot"},
            "error: DATABASE_URL: mysql is not supported: use SQLite or Postgres; "
            "example: postgresql+asyncpg://swapbot@localhost/swapbot",
        ),
    ],
)
def test_a_malformed_value_stops_start_up_with_one_line(env: dict[str, str], line: str) -> None:
    result = _run(env)
    assert result.exit_code == 2
    assert result.output.splitlines() == [line]


def test_secrets_are_never_echoed_and_each_bad_variable_gets_its_line() -> None:
    result = _run({"SWAPBOT_SECRET_KEY": "hunter2", "OPENAI_API_KEY": "sk-x", "SWAPBOT_MAX_TRIES": "0"})
    assert result.exit_code == 2
    lines = result.output.splitlines()
    assert [line.split(":")[1].strip() for line in lines] == ["SWAPBOT_SECRET_KEY", "SWAPBOT_MAX_TRIES"]
    assert "hunter2" not in result.output
    assert lines[0].startswith("error: SWAPBOT_SECRET_KEY: the key must be at least 32 characters; example:")


def test_embedded_key_is_generated_once_beside_the_database(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'swapbot.db'}"
    first = resolve_secret_key(url, None)
    kept = tmp_path / "swapbot.db.key"
    assert stat.S_IMODE(kept.stat().st_mode) == 0o600
    assert len(first) >= 32 and kept.read_text().strip().encode() == first
    assert resolve_secret_key(url, None) == first  # the next start reuses it
    assert resolve_secret_key(url, KEY) == KEY.encode()  # a configured key wins
    assert [p.name for p in tmp_path.iterdir()] == ["swapbot.db.key"]  # no temporary files left


def test_processes_starting_together_agree_on_one_key(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'race.db'}"
    with ThreadPoolExecutor(8) as pool:
        keys = set(pool.map(lambda _: resolve_secret_key(url, None), range(32)))
    assert keys == {(tmp_path / "race.db.key").read_text().strip().encode()}


def test_postgres_without_a_key_refuses_and_memory_needs_no_file(tmp_path: Path) -> None:
    with pytest.raises(SecretKeyError, match="SWAPBOT_SECRET_KEY must be set with postgresql"):
        resolve_secret_key("postgresql+asyncpg://postgres@localhost/swapbot", None)
    assert resolve_secret_key("postgresql+asyncpg://postgres@localhost/swapbot", KEY) == KEY.encode()
    one, two = (resolve_secret_key("sqlite+aiosqlite://", None) for _ in range(2))
    assert len(one) >= 32 and one != two


def test_the_resolved_key_never_shows(tmp_path: Path) -> None:
    settings = Settings(DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path / 'x.db'}", SWAPBOT_SECRET_KEY=KEY)
    assert settings.resolved_secret_key.get_secret_value() == KEY.encode()
    shown = (repr(settings), str(settings), settings.model_dump_json(), repr(settings.resolved_secret_key))
    assert all(KEY not in text for text in shown)


def test_the_settings_name_their_secrets_and_hand_over_their_values(tmp_path: Path) -> None:
    """Every token, key and secret variable is marked; URL fields give only their password."""
    marked = Settings.secret_fields()
    aliases = {name: field.alias or name for name, field in Settings.model_fields.items()}
    secret_like = {
        name
        for name, alias in aliases.items()
        if re.search(r"TOKEN|SECRET|_KEY$", alias) and not alias.endswith("_URL")
    }
    assert secret_like <= set(marked) and marked["database_url"] == marked["redis_url"] == "password"
    settings = Settings(
        DATABASE_URL="postgresql+asyncpg://swapbot:pa%2Fss@db/swapbot",
        REDIS_URL="redis://:redispass@localhost:6379/0",
        SWAPBOT_SECRET_KEY=KEY,
        TELEGRAM_BOT_TOKEN="123:telegram-token",
        STRIPE_WEBHOOK_SECRET="whsec_abcdef",
    )
    values = settings.secret_values()
    assert {KEY, "123:telegram-token", "whsec_abcdef", "pa%2Fss", "pa/ss", "redispass"} <= set(values)
    assert not any("postgresql" in value or "redis://" in value for value in values)


def test_db_upgrade_keeps_the_key_with_the_database(tmp_path: Path) -> None:
    env = {"DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'swapbot.db'}", "SWAPBOT_SECRET_KEY": ""}
    result = _run(env, "db", "upgrade")
    assert result.exit_code == 0, result.output
    key = (tmp_path / "swapbot.db.key").read_text()
    assert _run(env, "db", "upgrade").exit_code == 0
    assert (tmp_path / "swapbot.db.key").read_text() == key


def test_db_upgrade_on_postgres_needs_no_key_but_the_bots_do() -> None:
    name = asyncio.run(create_pg_database("swapbot_cli"))
    try:
        env = {"DATABASE_URL": pg_url(name), "SWAPBOT_SECRET_KEY": ""}
        result = _run(env, "db", "upgrade")
        assert result.exit_code == 0, result.output
        assert asyncio.run(_tables(name)) >= {"alembic_version", "users", "jobs"}  # really migrated
        # The bots key the free-credit memory with it: they still refuse, in one line, before any call.
        for command in ("telegram", "discord"):
            bot_env = {**env, "TELEGRAM_BOT_TOKEN": "1:x", "DISCORD_BOT_TOKEN": "x", "REDIS_URL": ""}
            refused = _run(bot_env, command)
            assert refused.exit_code == 2, refused.output
            assert len(refused.output.splitlines()) == 1
            assert refused.output.startswith("error: SWAPBOT_SECRET_KEY must be set with postgresql")
    finally:
        asyncio.run(drop_pg_database(name))


async def _tables(name: str) -> set[str]:
    conn = await asyncpg.connect(f"{PG_SERVER}/{name}")
    try:
        rows = await conn.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
    finally:
        await conn.close()
    return {row["tablename"] for row in rows}


def test_max_faces_reaches_the_workers_and_stays_within_the_pickers() -> None:
    from swapbot.wiring import worker_config

    assert worker_config(Settings()).queue.max_faces == 20
    assert worker_config(Settings(SWAPBOT_MAX_FACES="5")).queue.max_faces == 5
    for bad in ("0", "25"):  # Discord's picker shows 24 numbers and All
        with pytest.raises(ValidationError, match="SWAPBOT_MAX_FACES"):
            Settings(SWAPBOT_MAX_FACES=bad)
