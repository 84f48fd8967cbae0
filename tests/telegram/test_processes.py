"""The bot's ways in: the webhook route (secret checked), long polling through getUpdates, the web
process composed from settings, and ``swapbot run`` as a subprocess talking to the fake only over HTTP."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from bot.telegram.app import SECRET_HEADER, WEBHOOK_PATH, WebhookHandler, run_polling
from db import users
from swapbot.settings import Settings
from swapbot.web import open_web, web_app
from tests.fakes.telegram_server import FakeTelegram
from tests.jobs.squares import SquareEngine
from tests.telegram.conftest import TelegramHarness

SECRET = "webhook-secret_123"


async def _found(tg: TelegramHarness, telegram_id: int) -> bool:
    async with tg.db.session() as session:
        return await users.find(session, "telegram", telegram_id) is not None


async def test_the_webhook_checks_its_secret_and_handles_good_updates(tg: TelegramHarness) -> None:
    handler = WebhookHandler(tg.dp, tg.bot, SECRET)
    server = TestServer(web_app(tg.db, handler))
    await server.start_server()
    alice = tg.person()
    try:
        async with aiohttp.ClientSession() as http:
            url = str(server.make_url(WEBHOOK_PATH))
            for headers in ({}, {SECRET_HEADER: "wrong"}, {SECRET_HEADER: SECRET + "x"}):
                async with http.post(url, json=alice.text("/start"), headers=headers) as response:
                    assert response.status == 403
            await handler.drain()
            assert alice.texts() == []
            assert not await _found(tg, alice.id)

            async with http.post(url, json=alice.text("/start"), headers={SECRET_HEADER: SECRET}) as response:
                assert response.status == 200
            await handler.drain()
            assert "3 free credits" in alice.texts()[-1]

            async with http.post(url, data=b"{not json", headers={SECRET_HEADER: SECRET}) as response:
                assert response.status == 400
            async with http.get(server.make_url("/healthz")) as response:
                assert response.status == 200 and (await response.json())["ok"] is True
    finally:
        await server.close()


async def test_polling_reads_get_updates_and_confirms_them(tg: TelegramHarness) -> None:
    bob = tg.person("Bob")
    tg.telegram.push_update(bob.text("/start"))
    polling = asyncio.create_task(run_polling(tg.dp, tg.bot, handle_signals=False))
    try:
        await _until(lambda: len(bob.texts()) == 1, "the answer to /start")
        tg.telegram.push_update(bob.text("/help"))
        await _until(lambda: len(bob.texts()) == 2, "the answer to /help")
        await _until(lambda: tg.telegram.pending_updates() == 0, "getUpdates to confirm both updates")
    finally:
        await tg.dp.stop_polling()
        await asyncio.wait_for(polling, 30)
    assert "free credits" in bob.texts()[0] and "/setface" in bob.texts()[1]
    assert tg.telegram.called("deleteWebhook")  # polling removes a webhook left from webhook mode
    asked = tg.telegram.called("getUpdates")[0]["allowed_updates"]
    assert "message" in asked and "callback_query" in asked


async def test_the_web_process_registers_its_webhook(telegram: FakeTelegram, tmp_path: Path) -> None:
    settings = Settings(
        TELEGRAM_BOT_TOKEN=telegram.token,
        TELEGRAM_API_URL=telegram.url,
        TELEGRAM_WEBHOOK_URL="https://bot.example.org/telegram/webhook",
        TELEGRAM_WEBHOOK_SECRET=SECRET,
        DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path / 'web.db'}",
        _env_file=None,
    )
    async with open_web(settings, engine_factory=lambda spec: SquareEngine()) as app:
        server = TestServer(app)
        await server.start_server()
        try:
            async with aiohttp.ClientSession() as http:
                async with http.post(server.make_url(WEBHOOK_PATH), json={"update_id": 1}) as response:
                    assert response.status == 403
                async with http.get(server.make_url("/healthz")) as response:
                    assert response.status == 200
        finally:
            await server.close()
    registered = telegram.called("setWebhook")[-1]
    assert registered["url"] == "https://bot.example.org/telegram/webhook"
    assert registered["secret_token"] == SECRET
    assert "message" in registered["allowed_updates"]
    assert telegram.called("setMyCommands")


@pytest.mark.parametrize("mode", ["polling", "webhook"])
def test_swapbot_run_serves_a_bot_over_http(telegram: FakeTelegram, tmp_path: Path, mode: str) -> None:
    """The README's first command with a token: it migrates its own SQLite, loads the classic engine,
    and answers /start, got by polling the fake Bot API or posted to its webhook; SIGINT stops it
    cleanly. The test talks to it only over HTTP."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("SWAPBOT_", "TELEGRAM_", "DATABASE_", "REDIS_", "DISCORD_"))
    }
    env |= {"TELEGRAM_BOT_TOKEN": telegram.token, "TELEGRAM_API_URL": telegram.url}
    chat = 424242
    update = {
        "update_id": 5,
        "message": {
            "message_id": 1,
            "date": int(time.time()),
            "chat": {"id": chat, "type": "private", "first_name": "Ann"},
            "from": {"id": chat, "is_bot": False, "first_name": "Ann", "language_code": "en"},
            "text": "/start",
            "entities": [{"type": "bot_command", "offset": 0, "length": 6}],
        },
    }
    port = _free_port()
    if mode == "webhook":
        env |= {
            "TELEGRAM_WEBHOOK_URL": "https://bot.example.org/telegram/webhook",
            "TELEGRAM_WEBHOOK_SECRET": SECRET,
            "SWAPBOT_WEB_PORT": str(port),
        }
    else:
        telegram.push_update(update)
    swapbot = Path(sys.executable).with_name("swapbot")
    process = subprocess.Popen(
        [str(swapbot), "run"], cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    try:
        if mode == "webhook":
            base = f"http://127.0.0.1:{port}"
            _wait(process, lambda: _status(f"{base}/healthz") == 200, "the web process to listen")
            forged = update | {"update_id": 6, "message": update["message"] | {"message_id": 2}}
            assert _post(f"{base}{WEBHOOK_PATH}", forged, "wrong") == 403
            assert _post(f"{base}{WEBHOOK_PATH}", update, SECRET) == 200
            assert telegram.called("setWebhook")[-1]["secret_token"] == SECRET
        _wait(process, lambda: bool(telegram.texts_to(chat)), "the answer to /start")
        assert "3 free credits" in telegram.texts_to(chat)[0]
        assert len(telegram.texts_to(chat)) == 1  # the update refused for its secret was not handled
        assert (tmp_path / "swapbot.db").is_file()  # the embedded database, migrated by run itself
    finally:
        process.send_signal(signal.SIGINT)
        try:
            output = process.communicate(timeout=60)[0].decode()
        except subprocess.TimeoutExpired:
            process.kill()
            raise
    assert process.returncode == 0, output


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return exc.code
    except OSError:
        return 0


def _post(url: str, body: dict[str, object], secret: str) -> int:
    request = urllib.request.Request(
        url,
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json", SECRET_HEADER: secret},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return exc.code


def _wait(process: subprocess.Popen[bytes], check: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + 180
    while not check():
        if process.poll() is not None:
            output = process.stdout.read().decode() if process.stdout else ""
            raise AssertionError(f"swapbot run exited while waiting for {what}:\n{output}")
        assert time.monotonic() < deadline, f"gave up waiting for {what}"
        time.sleep(0.2)


async def _until(check, what: str, timeout_s: float = 30.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout_s
    while not check():
        assert time.monotonic() < deadline, f"gave up waiting for {what}"
        await asyncio.sleep(0.02)


def test_the_commands_say_what_is_missing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from swapbot.cli import app

    monkeypatch.chdir(tmp_path)  # no .env of the developer's
    for name in ("TELEGRAM_BOT_TOKEN", "TELEGRAM_WEBHOOK_URL", "REDIS_URL", "DATABASE_URL"):
        monkeypatch.delenv(name, raising=False)
    runner = CliRunner()
    result = runner.invoke(app, ["telegram"])
    assert result.exit_code == 2 and "TELEGRAM_BOT_TOKEN is not set" in result.output
    monkeypatch.setenv("TELEGRAM_WEBHOOK_URL", "https://bot.example.org/telegram/webhook")
    result = runner.invoke(app, ["web"])
    assert result.exit_code == 2 and "TELEGRAM_BOT_TOKEN is not" in result.output
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", "123:abc")
    result = runner.invoke(app, ["telegram"])
    assert result.exit_code == 2 and "swapbot web" in result.output
    monkeypatch.setenv("TELEGRAM_WEBHOOK_SECRET", "has spaces")
    result = runner.invoke(app, ["web"])
    assert result.exit_code == 2 and "TELEGRAM_WEBHOOK_SECRET" in result.output
