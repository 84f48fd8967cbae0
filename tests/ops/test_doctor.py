"""``swapbot doctor`` on broken and on good configurations: real Postgres and Redis, the fake Telegram
and Discord APIs, the real model registry and onnxruntime."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from swapbot import credentials
from swapbot.cli import app
from swapbot.providers import usable_providers
from tests.fakes.discord_server import TOKEN as DISCORD_TOKEN
from tests.ops.conftest import SECRET_KEY, TELEGRAM_TOKEN, run_swapbot

runner = CliRunner()


def rows(output: str) -> list[tuple[str, str, str]]:
    """(status, check, the rest of the line) for each row of doctor's table."""
    table = []
    for line in output.splitlines()[2:]:
        parts = line.split(maxsplit=2)
        if len(parts) == 3 and parts[0] in ("ok", "warn", "FAIL", "skip"):
            table.append((parts[0], parts[1], parts[2]))
    return table


def having(output: str, status: str, check: str, words: str) -> bool:
    return any(s == status and c == check and words in rest for s, c, rest in rows(output))


def doctor(monkeypatch: pytest.MonkeyPatch, env: dict[str, str], *args: str):
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return runner.invoke(app, ["doctor", *args])


def test_a_broken_configuration_names_every_problem_and_exits_1(clean_env, monkeypatch):
    env = {
        "DATABASE_URL": "postgresql+asyncpg://postgres@127.0.0.1:1/nothing_listens_here",
        "REDIS_URL": "redis://127.0.0.1:1/0",
        "TELEGRAM_BOT_TOKEN": "12345:too-short",
        "DISCORD_BOT_TOKEN": "a-client-secret-not-a-bot-token",
        "STRIPE_SECRET_KEY": "pk_test_51Habc",
        "STRIPE_WEBHOOK_SECRET": "not-a-signing-secret",
        "TELEGRAM_WEBHOOK_URL": "http://bot.example.org/telegram/webhook",
        "SWAPBOT_ENGINE": "onnx",
        "SWAPBOT_MODELS_DIR": str(clean_env / "empty-models"),
        "SWAPBOT_PACKS": "10:abc",
        "SWAPBOT_PROVIDERS": "cpu",
    }
    result = run_swapbot("doctor", "--timeout", "2", env=env, cwd=clean_env)
    out = result.stdout
    assert result.returncode == 1, out + result.stderr
    assert having(out, "FAIL", "settings", "SWAPBOT_PACKS")  # the malformed value, and the rest still ran
    assert having(out, "FAIL", "settings", "SWAPBOT_SECRET_KEY is unset")
    assert having(out, "FAIL", "database", "does not answer")
    assert having(out, "FAIL", "redis", "does not answer")
    for model in ("det_10g", "w600k_r50", "inswapper_128"):
        assert having(out, "FAIL", "models", f"{model} missing"), model
    assert having(out, "FAIL", "telegram", "TELEGRAM_BOT_TOKEN: not <bot id>")
    assert having(out, "FAIL", "discord", "DISCORD_BOT_TOKEN: not three base64 parts")
    assert having(out, "FAIL", "stripe", "STRIPE_SECRET_KEY: a publishable key")
    assert having(out, "FAIL", "stripe", "STRIPE_WEBHOOK_SECRET: not an endpoint signing secret")
    assert having(out, "FAIL", "webhooks", "TELEGRAM_WEBHOOK_URL must be an https:// URL")
    for secret in (
        "12345:too-short",
        "a-client-secret-not-a-bot-token",
        "pk_test_51Habc",
        "not-a-signing-secret",
    ):
        assert secret not in out + result.stderr


def test_a_good_configuration_exits_0(clean_env, monkeypatch, postgres_at, telegram, discord):
    env = {
        "DATABASE_URL": postgres_at("head"),
        "REDIS_URL": "redis://localhost:6379/0",
        "SWAPBOT_SECRET_KEY": SECRET_KEY,
        "TELEGRAM_BOT_TOKEN": TELEGRAM_TOKEN,
        "TELEGRAM_API_URL": telegram.url,
        "TELEGRAM_WEBHOOK_URL": "https://bot.example.org/telegram/webhook",
        "DISCORD_BOT_TOKEN": DISCORD_TOKEN,
        "DISCORD_API_URL": discord.api_url,
        "STRIPE_SECRET_KEY": "sk_test_51HdoctorTestKey",
        "STRIPE_WEBHOOK_SECRET": "whsec_doctorTestSecret",
        "STRIPE_SUCCESS_URL": "https://example.org/thanks",
        "STRIPE_CANCEL_URL": "https://example.org/cancelled",
        "SWAPBOT_ENGINE": "classic",
    }
    result = run_swapbot("doctor", env=env, cwd=clean_env)
    out = result.stdout
    assert result.returncode == 0, out + result.stderr
    assert not any(status == "FAIL" for status, _, _ in rows(out))
    assert having(out, "ok", "database", "at the migration head")
    assert having(out, "ok", "redis", "answers PING")
    assert having(out, "ok", "telegram", "getMe: @swap_test_bot")
    assert telegram.called("getMe", ok=True)
    assert having(out, "ok", "discord", "/users/@me: SwapBot")
    assert having(out, "ok", "stripe", "STRIPE_SECRET_KEY: test mode")
    assert having(out, "ok", "webhooks", "TELEGRAM_WEBHOOK_URL: https")
    # The classic engine's dlib files, hashed against the registry's pins.
    assert having(out, "ok", "models", "shape_predictor_68_face_landmarks: checksum verified")
    for secret in (
        TELEGRAM_TOKEN,
        DISCORD_TOKEN,
        SECRET_KEY,
        "sk_test_51HdoctorTestKey",
        "whsec_doctorTestSecret",
    ):
        assert secret not in out + result.stderr


def test_a_database_behind_the_head_says_to_upgrade(clean_env, monkeypatch, postgres_at):
    from alembic.script import ScriptDirectory

    from db.migrate import alembic_config

    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    env = {"DATABASE_URL": postgres_at("0004"), "SWAPBOT_SECRET_KEY": SECRET_KEY}
    result = doctor(monkeypatch, env, "--only", "database")
    assert result.exit_code == 1, result.output
    assert having(result.output, "FAIL", "database", f"at 0004, the head is {head}")
    assert "swapbot db upgrade" in result.output


def test_an_empty_database_and_one_from_a_newer_release(clean_env, monkeypatch, postgres_at):
    import asyncio

    import asyncpg

    empty = postgres_at(None)
    result = doctor(
        monkeypatch, {"DATABASE_URL": empty, "SWAPBOT_SECRET_KEY": SECRET_KEY}, "--only", "database"
    )
    assert result.exit_code == 1
    assert having(result.output, "FAIL", "database", "answers but has no schema")

    newer = postgres_at("head")

    async def stamp() -> None:
        conn = await asyncpg.connect(newer.replace("+asyncpg", ""))
        await conn.execute("UPDATE alembic_version SET version_num = '9999_from_the_future'")
        await conn.close()

    asyncio.run(stamp())
    result = doctor(monkeypatch, {"DATABASE_URL": newer}, "--only", "database")
    assert result.exit_code == 1
    assert having(
        result.output, "FAIL", "database", "at 9999_from_the_future: a revision this release does not know"
    )


def test_refused_tokens_fail_and_an_unreachable_api_only_warns(clean_env, monkeypatch, telegram, discord):
    other = "7012345678:AAHsome-other-token-0123456789abcde"  # well formed, but not the fake's
    env = {
        "TELEGRAM_BOT_TOKEN": other,
        "TELEGRAM_API_URL": telegram.url,
        "DISCORD_BOT_TOKEN": "MTIzNDU2Nzg5MDEyMzQ1Njc4.Other.not-the-fakes-token",
        "DISCORD_API_URL": discord.api_url,
    }
    result = doctor(monkeypatch, env, "--only", "telegram,discord")
    assert result.exit_code == 1, result.output
    assert having(result.output, "FAIL", "telegram", "Telegram refused TELEGRAM_BOT_TOKEN (getMe: 401)")
    assert having(result.output, "FAIL", "discord", "Discord refused DISCORD_BOT_TOKEN (/users/@me: 401)")
    assert other not in result.output

    env = {"TELEGRAM_BOT_TOKEN": TELEGRAM_TOKEN, "TELEGRAM_API_URL": "http://127.0.0.1:1"}
    result = doctor(monkeypatch, env, "--only", "telegram", "--timeout", "2")
    assert result.exit_code == 0, result.output  # no network is not a broken token
    assert having(result.output, "warn", "telegram", "getMe not answered")
    assert TELEGRAM_TOKEN not in result.output


def test_a_model_file_with_the_wrong_bytes_fails(clean_env, monkeypatch):
    models = clean_env / "models"
    models.mkdir()
    (models / "det_10g.onnx").write_bytes(b"not the SCRFD detector")
    env = {"SWAPBOT_ENGINE": "onnx", "SWAPBOT_MODELS_DIR": str(models)}
    result = doctor(monkeypatch, env, "--only", "models")
    assert result.exit_code == 1
    assert having(result.output, "FAIL", "models", "det_10g has the wrong checksum or size")
    assert having(result.output, "FAIL", "models", "inswapper_128 missing")
    assert having(result.output, "warn", "models", "gfpgan_1.4 missing")  # enhancing only: not needed
    assert "swapbot models fetch det_10g" in result.output


def test_only_runs_the_checks_named(clean_env, monkeypatch):
    result = doctor(monkeypatch, {"REDIS_URL": "redis://localhost:6379/0"}, "--only", "redis,settings")
    assert result.exit_code == 0, result.output
    assert {check for _, check, _ in rows(result.output)} == {"redis", "settings"}
    result = doctor(monkeypatch, {}, "--only", "redis,nonsense")
    assert result.exit_code == 2
    assert "nonsense" in result.output


def test_stripe_modes_and_a_checkout_without_its_webhook(clean_env, monkeypatch):
    env = {
        "STRIPE_SECRET_KEY": "rk_live_51Hrestricted",
        "STRIPE_SUCCESS_URL": "https://example.org/thanks",
        "STRIPE_CANCEL_URL": "https://example.org/cancelled",
        "TELEGRAM_PAYMENT_PROVIDER_TOKEN": "284685063:TEST:abcdef",
    }
    result = doctor(monkeypatch, env, "--only", "stripe")
    assert result.exit_code == 1, result.output
    assert having(result.output, "ok", "stripe", "STRIPE_SECRET_KEY: live mode")
    assert having(
        result.output, "FAIL", "stripe", "STRIPE_WEBHOOK_SECRET is unset: paid sessions never credit"
    )
    assert having(result.output, "warn", "stripe", "provider is in test mode, the Stripe key in live mode")


@pytest.mark.skipif("cuda" in usable_providers(["cuda"]), reason="this machine really has CUDA")
def test_a_gpu_worker_without_cuda_fails_its_check(clean_env, monkeypatch):
    env = {"SWAPBOT_ENGINE": "onnx", "SWAPBOT_PROVIDERS": "cuda,cpu"}
    result = doctor(monkeypatch, env, "--only", "providers", "--require-gpu")
    assert result.exit_code == 1, result.output
    assert having(result.output, "FAIL", "providers", "only cpu really run here: cuda is not available")
    result = doctor(monkeypatch, env, "--only", "providers")
    assert result.exit_code == 0  # without --require-gpu a CPU fallback is a warning
    assert having(result.output, "warn", "providers", "cuda is not available")


@pytest.mark.parametrize(
    ("token", "good"),
    [
        (TELEGRAM_TOKEN, True),
        ("123:" + "a" * 35, True),
        ("123:" + "a" * 34, False),
        ("bot123:" + "a" * 35, False),
        ("123:" + "a" * 34 + "!", False),
    ],
)
def test_telegram_token_form(token, good):
    assert (credentials.telegram_token_problem(token) is None) is good


@pytest.mark.parametrize(
    ("token", "good"),
    [
        (DISCORD_TOKEN, True),
        ("MTIzNDU2Nzg5MDEyMzQ1Njc4.GhIjKl.abc_DEF-123", True),
        ("bm90LWFuLWlk.GhIjKl.abc", False),  # "not-an-id": not the bot's user id
        ("MTIzNDU2Nzg5MDEyMzQ1Njc4.GhIjKl", False),
        ("MTIzNDU2Nzg5MDEyMzQ1Njc4.Gh+jKl.abc", False),
    ],
)
def test_discord_token_form(token, good):
    assert (credentials.discord_token_problem(token) is None) is good


def test_stripe_and_url_forms():
    assert credentials.stripe_key_mode("sk_test_abc") == "test"
    assert credentials.stripe_key_mode("rk_live_abc") == "live"
    assert credentials.stripe_key_problem("sk_live_abc") is None
    assert credentials.stripe_key_problem("pk_live_abc") is not None
    assert credentials.stripe_key_problem("whsec_abc") is not None
    assert credentials.stripe_webhook_secret_problem("whsec_abc") is None
    assert credentials.stripe_webhook_secret_problem("sk_test_abc") is not None
    assert credentials.provider_token_mode("284685063:LIVE:xyz") == "live"
    assert credentials.provider_token_mode("sk_live_xyz") is None
    assert (
        credentials.https_url_problem(
            "https://bot.example.org/telegram/webhook", path_suffix="/telegram/webhook"
        )
        is None
    )
    assert (
        credentials.https_url_problem("https://bot.example.org/hook", path_suffix="/telegram/webhook")
        is not None
    )
    assert credentials.https_url_problem("http://bot.example.org/telegram/webhook") is not None
    assert credentials.https_url_problem("https:///telegram/webhook") is not None


def test_an_unset_secret_key_on_sqlite_names_the_file_it_is_kept_in(clean_env, monkeypatch):
    url = f"sqlite+aiosqlite:///{clean_env / 'bot.db'}"
    result = doctor(monkeypatch, {"DATABASE_URL": url}, "--only", "settings")
    assert having(result.output, "ok", "settings", f"generated on first use into {clean_env / 'bot.db.key'}")
    (clean_env / "bot.db.key").write_text("k" * 64)
    result = doctor(monkeypatch, {"DATABASE_URL": url}, "--only", "settings")
    assert having(result.output, "ok", "settings", f"kept in {clean_env / 'bot.db.key'}")
    # An in-memory database keeps no key file: there is nothing to name.
    result = doctor(monkeypatch, {"DATABASE_URL": "sqlite+aiosqlite:///:memory:"}, "--only", "settings")
    assert not any(
        check == "settings" and "SWAPBOT_SECRET_KEY" in rest for _, check, rest in rows(result.output)
    )
