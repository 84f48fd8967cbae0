"""Logs: a whole `swapbot run` (polling the fake Telegram: /start, a swap by the real classic engine,
a Stars payment) with distinctive secrets configured, JSON and console both: nothing it writes holds a
secret or image bytes, and its job lines name the job and the user. The redaction also covers the
standard library's lines (aiogram's errors carry the bot token in URLs) and tracebacks."""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import numpy as np
import pytest

from db import users
from db.session import Database
from swapbot.cli import Invocation
from swapbot.logging import Redactor
from swapbot.settings import Settings
from swapbot.wiring import webhook_secret
from tests.conftest import encode
from tests.db.conftest import create_pg_database, drop_pg_database
from tests.fakes.telegram_server import FakeTelegram

TOKEN = "7012345678:AAHlogScanTOKEN-abcdefghij0123456789"
DB_PASSWORD = "PgLogScan-Pass0123"
SECRETS = {
    "TELEGRAM_BOT_TOKEN": TOKEN,
    "SWAPBOT_SECRET_KEY": "logscan-SECRET-key-0123456789abcdef-qq",
    "STRIPE_SECRET_KEY": "sk_test_logscanSTRIPE0123456789",
    "STRIPE_WEBHOOK_SECRET": "whsec_logscanWEBHOOK0123456789",
    "OPENAI_API_KEY": "sk-logscanOPENAI0123456789abc",
    "REPLICATE_API_TOKEN": "r8_logscanREPLICATE0123456789",
}
MAGIC = (b"\xff\xd8\xff", b"\x89PNG", b"\\xff\\xd8\\xff", b"\\x89PNG")  # JPEG and PNG, raw or repr'd


def _leaks(output: bytes) -> list[str]:
    found = [
        name
        for name, secret in [*SECRETS.items(), ("DB_PASSWORD", DB_PASSWORD)]
        if secret.encode() in output or quote(secret, safe="").encode() in output
    ]
    return found + [repr(magic) for magic in MAGIC if magic in output]


class Chat:
    """One Telegram user in a private chat, building the updates the fake hands out by polling."""

    def __init__(self, telegram: FakeTelegram, user_id: int) -> None:
        self.telegram = telegram
        self.id = user_id
        self.messages: Iterator[int] = itertools.count(1)

    def _message(self, **content: Any) -> None:
        who = {"id": self.id, "is_bot": False, "first_name": "Ann", "language_code": "en"}
        message = {
            "message_id": next(self.messages),
            "date": int(time.time()),
            "chat": {"id": self.id, "type": "private", "first_name": "Ann"},
            "from": who,
            **content,
        }
        self.telegram.push_update({"message": message})

    def command(self, text: str) -> None:
        entity = {"type": "bot_command", "offset": 0, "length": len(text.split()[0])}
        self._message(text=text, entities=[entity])

    def album(self, *photos: bytes) -> None:
        for data in photos:
            file_id, unique = self.telegram.add_file(data)
            size = {"file_id": file_id, "file_unique_id": unique, "width": 512, "height": 512}
            self._message(photo=[size | {"file_size": len(data)}], media_group_id="logscan-album")

    def press(self, data: str) -> None:
        who = {"id": self.id, "is_bot": False, "first_name": "Ann", "language_code": "en"}
        message = {"message_id": 999, "date": int(time.time()), "chat": {"id": self.id, "type": "private"}}
        query = {"id": str(time.time_ns()), "from": who, "chat_instance": "1", "message": message}
        self.telegram.push_update({"callback_query": query | {"data": data}})

    def pre_checkout(self, payload: str, amount: int) -> None:
        who = {"id": self.id, "is_bot": False, "first_name": "Ann", "language_code": "en"}
        query = {"id": str(time.time_ns()), "from": who, "currency": "XTR", "total_amount": amount}
        self.telegram.push_update({"pre_checkout_query": query | {"invoice_payload": payload}})

    def paid(self, payload: str, amount: int) -> None:
        payment = {
            "currency": "XTR",
            "total_amount": amount,
            "invoice_payload": payload,
            "telegram_payment_charge_id": f"stxLogScan{time.time_ns()}",
            "provider_payment_charge_id": "",
        }
        self._message(successful_payment=payment)


def _wait(process: subprocess.Popen[bytes], check: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + 240
    while not check():
        assert process.poll() is None, f"swapbot run exited while waiting for {what}"
        assert time.monotonic() < deadline, f"gave up waiting for {what}"
        time.sleep(0.2)


async def _agree(url: str, telegram_id: int) -> None:
    """The terms accepted, as the consent button would (the flow under test here is the logging)."""
    db = Database(url)
    try:
        async with db.transaction() as session:
            user = await users.find(session, "telegram", telegram_id)
            assert user is not None
            await users.accept_terms(session, user.id, "1")
    finally:
        await db.dispose()


@pytest.mark.parametrize("as_json", [True, False], ids=["json", "console"])
def test_a_whole_run_logs_no_secret_and_no_image_bytes(
    tmp_path: Path, astronaut: np.ndarray, hanks: np.ndarray, as_json: bool
) -> None:
    name = asyncio.run(create_pg_database("swapbot_logscan"))
    url = f"postgresql+asyncpg://postgres:{quote(DB_PASSWORD, safe='')}@localhost:5432/{name}"
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("SWAPBOT_", "TELEGRAM_", "DATABASE_", "REDIS_", "DISCORD_", "STRIPE_"))
    }
    log = tmp_path / "run.log"
    try:
        with FakeTelegram(token=TOKEN) as telegram:
            env |= SECRETS | {
                "TELEGRAM_API_URL": telegram.url,
                "DATABASE_URL": url,
                "STRIPE_API_URL": "http://127.0.0.1:9",
                "SWAPBOT_LOG_JSON": str(as_json).lower(),
                "SWAPBOT_LOG_LEVEL": "INFO",
            }
            chat = Chat(telegram, 515151515)
            with log.open("wb") as out:
                swapbot = Path(sys.executable).with_name("swapbot")
                process = subprocess.Popen(
                    [str(swapbot), "run"], cwd=tmp_path, env=env, stdout=out, stderr=out
                )
            try:
                _run_the_flow(process, telegram, chat, url, astronaut, hanks)
            finally:
                process.send_signal(signal.SIGTERM)
                try:
                    process.wait(60)
                except subprocess.TimeoutExpired:
                    process.kill()
                    raise
    finally:
        asyncio.run(drop_pg_database(name))
    output = log.read_bytes()
    assert process.returncode == 0, output.decode(errors="replace")[-3000:]
    assert _leaks(output) == [], output.decode(errors="replace")[-3000:]

    lines = output.decode().splitlines()
    ended = [line for line in lines if "job attempt ended" in line]
    assert ended, output.decode()[-3000:]
    if as_json:
        records = [json.loads(line) for line in ended]
        assert all(r["job_id"] and isinstance(r["user_id"], int) for r in records)
        (credited,) = [json.loads(line) for line in lines if "payment credited" in line]
        assert credited["update_id"] and credited["telegram_user_id"] == chat.id
    else:
        assert all("job_id=" in line and "user_id=" in line for line in ended)
        (credited,) = [line for line in lines if "payment credited" in line]
        assert "update_id=" in credited and f"telegram_user_id={chat.id}" in credited


def _run_the_flow(
    process: subprocess.Popen[bytes],
    telegram: FakeTelegram,
    chat: Chat,
    url: str,
    astronaut: np.ndarray,
    hanks: np.ndarray,
) -> None:
    chat.command("/start")
    _wait(process, lambda: bool(telegram.texts_to(chat.id)), "the answer to /start")
    asyncio.run(_agree(url, chat.id))

    chat.album(encode(astronaut), encode(hanks, ".jpg"))  # the first face into the second photo
    _wait(process, lambda: bool(telegram.sent_to(chat.id, "photo")), "the swapped photo")

    chat.command("/buy")

    def menu() -> dict[str, Any] | None:
        calls = [c for c in telegram.called("sendMessage") if "reply_markup" in c and "⭐" in str(c)]
        return calls[-1] if calls else None

    _wait(process, lambda: menu() is not None, "the packs on offer")
    buttons = [b for row in (menu() or {})["reply_markup"]["inline_keyboard"] for b in row]
    chat.press(next(b["callback_data"] for b in buttons if "⭐" in b["text"]))
    _wait(process, lambda: bool(telegram.called("sendInvoice")), "the invoice")
    invoice = telegram.called("sendInvoice")[-1]
    payload, amount = invoice["payload"], int(invoice["prices"][0]["amount"])
    chat.pre_checkout(payload, amount)
    _wait(process, lambda: bool(telegram.called("answerPreCheckoutQuery")), "the checkout answer")
    chat.paid(payload, amount)
    _wait(
        process,
        lambda: any("credits were added" in text for text in telegram.texts_to(chat.id)),
        "the thanks for the payment",
    )


REDACTION_PROBE = """
import logging, sys
import structlog
from swapbot.logging import configure_logging
configure_logging("INFO", json=sys.argv[1] == "json", secrets=[sys.argv[2], sys.argv[3]])
url = f"https://api.telegram.org/bot{sys.argv[2]}/getUpdates"
logging.getLogger("aiogram.dispatcher").error("Failed to fetch updates - %s", url)
try:
    raise RuntimeError("bad " + url)
except RuntimeError:
    logging.getLogger("aiohttp.client").exception("request failed")
    structlog.get_logger("jobs").exception("fetch failed", detail={"url": url, "key": sys.argv[3]})
structlog.get_logger("jobs").info("got a photo", data=b"\\x89PNG\\r\\n\\x1a\\n" + bytes(64), note=sys.argv[3])
print("probe done", file=sys.stderr)
"""


@pytest.mark.parametrize("mode", ["json", "console"])
def test_the_standard_library_and_tracebacks_are_redacted_too(mode: str) -> None:
    key = SECRETS["SWAPBOT_SECRET_KEY"]
    probe = subprocess.run(
        [sys.executable, "-c", REDACTION_PROBE, mode, TOKEN, key],
        capture_output=True,
        timeout=60,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])},
    )
    output = probe.stdout + probe.stderr
    assert probe.returncode == 0 and b"probe done" in output, output.decode()
    assert _leaks(output) == [], output.decode()
    text = output.decode()
    # Each line is still there, the secret replaced: aiogram's line, both tracebacks, the bytes' size.
    assert text.count("[redacted]") >= 5, text
    assert "Failed to fetch updates" in text and "RuntimeError" in text
    assert "<72 bytes>" in text


GENERATED_KEY_PROBE = """
import logging, sys
from swapbot.cli import Invocation
from swapbot.logging import configure_logging
from swapbot.settings import Settings
from swapbot.wiring import webhook_secret
settings = Settings(database_url=f"sqlite+aiosqlite:///{sys.argv[1]}/bot.db", telegram_webhook_url="https://x.example/telegram/webhook")
invocation = Invocation(settings, configure_logging("INFO", json=False, secrets=settings.secret_values()))
invocation.serving()  # what the command line does before a bot or the web process opens
key = settings.resolved_secret_key.get_secret_value().decode()  # generated by the line above
derived = webhook_secret(settings)
logging.getLogger("aiogram").error("setWebhook secret_token=%s key=%s", derived, key)
print(key, derived, sep="\\n")
"""


def test_a_key_generated_after_start_up_and_the_webhook_secret_derived_from_it_are_redacted(
    tmp_path: Path,
) -> None:
    """The embedded mode makes its secret key on first use, after logging is set up; it and the
    Telegram webhook secret derived from it are hidden from then on."""
    probe = subprocess.run(
        [sys.executable, "-c", GENERATED_KEY_PROBE, str(tmp_path)],
        capture_output=True,
        timeout=60,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])},
    )
    assert probe.returncode == 0, probe.stderr.decode()
    key, derived = probe.stdout.decode().split()
    assert len(key) == 64 and (tmp_path / "bot.db.key").read_text().strip() == key
    logged = probe.stderr.decode()
    assert "setWebhook secret_token=[redacted] key=[redacted]" in logged, logged
    assert key not in logged and derived not in logged


def test_reading_the_key_hides_nothing_only_the_command_line_does(tmp_path: Path) -> None:
    """A property getter never changes what logs hide; the composition root (``Invocation.serving``)
    hands the generated key and the derived webhook secret to the redaction it owns."""
    settings = Settings(
        database_url=f"sqlite+aiosqlite:///{tmp_path}/bot.db",
        telegram_webhook_url="https://x.example/telegram/webhook",
        _env_file=None,  # type: ignore[call-arg]
    )
    logs = Redactor(settings.secret_values())
    key = settings.resolved_secret_key.get_secret_value().decode()  # generated here, beside the file
    assert logs(f"key={key}") == f"key={key}"
    Invocation(settings, logs).serving()
    assert logs(f"key={key} hook={webhook_secret(settings)}") == "key=[redacted] hook=[redacted]"
