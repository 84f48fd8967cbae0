"""The Discord bot as a real process: ``swapbot discord`` (jobs on Redis, run by a ``swapbot worker``
process, data in Postgres) and ``swapbot run`` with a Discord token (embedded: SQLite, jobs in
process), each against the fake Discord REST API and gateway, which they reach only over HTTP and the
websocket. The gateway says HELLO, takes the bot's IDENTIFY, sends READY, then one INTERACTION_CREATE
for ``/swap`` with two real photos; the swapped picture must come back as a followup, and the bot must
keep heartbeating on the same connection.

The first tests hold the fake gateway itself to discord.py's own client, in process.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path

import aiohttp
import cv2
import discord
import numpy as np
import pytest
from discord.gateway import DiscordWebSocket
from discord.http import Route

from jobs.platforms.discord import point_gateway
from tests.conftest import encode
from tests.db.conftest import create_pg_database, drop_pg_database, migrated, pg_url
from tests.fakes.discord_gateway import AUTHENTICATION_FAILED, attachment, command_interaction, snowflake
from tests.fakes.discord_server import FakeDiscord, message_json, user_json

REDIS_URL = "redis://localhost:6379/9"  # a database of its own: the worker's queue keys are the defaults
SECRET_KEY = "discord-process-test-secret-key-0123456789"
SUBCOMMAND_OPTION, STRING_OPTION, ATTACHMENT_OPTION = 1, 3, 11
USER_ID = 731_000_000_000_000_001
CHANNEL_ID = 731_000_000_000_000_002


@pytest.fixture
def fake() -> Iterator[FakeDiscord]:
    route, gateway = Route.BASE, DiscordWebSocket.DEFAULT_GATEWAY
    with FakeDiscord() as fake:
        yield fake
    # The in-process tests move discord.py's two class attributes; others expect them as they were.
    Route.BASE, DiscordWebSocket.DEFAULT_GATEWAY = route, gateway


# --- the fake gateway, held to discord.py's client ----------------------------------------------------


class _Client(discord.Client):
    """A bare discord.py client that finds the gateway as the bot does (``point_gateway``)."""

    def __init__(self) -> None:
        super().__init__(intents=discord.Intents.none())
        self.interactions: asyncio.Queue[discord.Interaction] = asyncio.Queue()

    async def setup_hook(self) -> None:
        await point_gateway(self.http)

    async def on_interaction(self, interaction: discord.Interaction) -> None:
        await self.interactions.put(interaction)


async def test_discord_py_connects_identifies_and_heartbeats(fake: FakeDiscord) -> None:
    Route.BASE = fake.api_url
    client = _Client()
    running = asyncio.create_task(client.start(fake.token))
    try:
        assert await asyncio.to_thread(fake.gateway.wait_ready)
        (identify,) = fake.gateway.identifies
        assert identify["token"] == fake.token and identify["intents"] == 0
        assert fake.gateway.connections[0].compressor is not None  # discord.py asked for zlib-stream
        assert await asyncio.to_thread(fake.gateway.wait_for, lambda: client.user is not None)
        assert client.user is not None and client.user.id == fake.application_id
        assert client.application_id == fake.application_id

        url, attachment_id = fake.add_attachment(b"\x89PNG...")
        token, _ = fake.interaction()
        payload = _swap(fake, token, [(url, attachment_id, 8)])
        assert await asyncio.to_thread(fake.gateway.interaction, payload) == 1
        interaction = await asyncio.wait_for(client.interactions.get(), 30)
        assert interaction.type is discord.InteractionType.application_command
        assert interaction.data is not None and interaction.data.get("name") == "swap"
        assert interaction.user.id == USER_ID and interaction.token == token
        await interaction.response.defer(thinking=True)
        assert [reply.type for reply in fake.replies_to(token)] == [5]

        beats = fake.gateway.heartbeats
        assert await asyncio.to_thread(fake.gateway.wait_heartbeats, beats + 2)
        assert len(fake.gateway.connections) == 1  # heartbeats kept the first connection alive
    finally:
        await client.close()
        await asyncio.wait_for(running, 30)


async def test_the_gateway_refuses_a_wrong_token(fake: FakeDiscord) -> None:
    async with (
        aiohttp.ClientSession() as http,
        http.ws_connect(f"{fake.gateway.url}?compress=zlib-stream") as ws,
    ):
        inflate = zlib.decompressobj()
        hello = json.loads(inflate.decompress(await ws.receive_bytes()).decode())
        assert hello["op"] == 10 and hello["d"]["heartbeat_interval"] > 0
        await ws.send_json({"op": 2, "d": {"token": "not-the-token", "intents": 0, "properties": {}}})
        closing = await ws.receive()
        assert closing.type is aiohttp.WSMsgType.CLOSE and closing.data == AUTHENTICATION_FAILED
    assert fake.gateway.refused == ["not-the-token"] and fake.gateway.identifies == []


# --- the real processes -------------------------------------------------------------------------------


async def test_swapbot_discord_with_a_worker_swaps_a_photo_end_to_end(
    fake: FakeDiscord, astronaut: np.ndarray, hanks: np.ndarray, tmp_path: Path
) -> None:
    name = await create_pg_database("swapbot_discord_process")
    try:
        async with migrated(pg_url(name)):
            pass  # the schema, by the real migrations
        env = _env(fake) | {
            "DATABASE_URL": pg_url(name),
            "REDIS_URL": REDIS_URL,
            "SWAPBOT_SECRET_KEY": SECRET_KEY,
        }
        with _process(["worker"], env, tmp_path) as worker, _process(["discord"], env, tmp_path) as bot:
            await _swap_scenario(fake, astronaut, hanks, [worker, bot], saved_face=True)
    finally:
        await drop_pg_database(name)


async def test_swapbot_run_serves_discord_embedded(
    fake: FakeDiscord, astronaut: np.ndarray, hanks: np.ndarray, tmp_path: Path
) -> None:
    """``swapbot run`` with only a Discord token: its own SQLite, jobs in its own process."""
    with _process(["run"], _env(fake), tmp_path) as bot:
        await _swap_scenario(fake, astronaut, hanks, [bot], saved_face=False)
    assert (tmp_path / "swapbot.db").is_file()


async def _swap_scenario(
    fake: FakeDiscord,
    astronaut: np.ndarray,
    hanks: np.ndarray,
    processes: list[_process],
    *,
    saved_face: bool,
) -> None:
    """``saved_face``: Tom Hanks's face saved first with ``/face save`` (an analysis job), then
    ``/swap target:`` alone uses it; otherwise ``/swap target: source:`` with both photos."""
    await _until(processes, lambda: bool(fake.gateway.identifies), "the bot to identify on the gateway")
    await _until(processes, lambda: "global" in fake.commands, "the bot to sync its commands")
    assert {"swap", "face"} <= {command["name"] for command in fake.commands["global"]}
    assert fake.gateway.identifies[0]["token"] == fake.token

    target = encode(astronaut)
    source = encode(hanks)
    target_url, target_id = fake.add_attachment(target, "astronaut.png")
    source_url, source_id = fake.add_attachment(source, "hanks.png")
    photos = [(target_url, target_id, len(target))]
    if saved_face:
        save_token, _ = fake.interaction()
        save = _face_save(fake, save_token, source_url, source_id, len(source))
        assert await asyncio.to_thread(fake.gateway.interaction, save) == 1
        await _until(processes, lambda: _told(fake, "Saved the face as tom"), "the face to be saved")
    else:
        photos.append((source_url, source_id, len(source)))
    # The first /swap asks for consent to the terms and swaps nothing: "I agree", then /swap again.
    asked, _ = fake.interaction()
    assert await asyncio.to_thread(fake.gateway.interaction, _swap(fake, asked, photos)) == 1
    await _until(processes, lambda: bool(fake.replies_to(asked)), "the consent question")
    question = fake.replies_to(asked)[0].payload
    agree = question["components"][0]["components"][0]["custom_id"]
    assert await asyncio.to_thread(fake.gateway.interaction, _press(fake, agree)) == 1
    await _until(processes, lambda: _told(fake, "Thank you."), "the agreement to be recorded")
    assert not any(p.files for p in fake.posted)

    token, _ = fake.interaction()
    assert await asyncio.to_thread(fake.gateway.interaction, _swap(fake, token, photos)) == 1

    await _until(processes, lambda: any(p.files for p in fake.posted), "the swapped photo as a followup")
    replies = fake.replies_to(token)
    assert replies and replies[0].kind == "callback" and replies[0].type == 5  # deferred at once
    (posted,) = [p for p in fake.posted if p.files]
    assert posted.via == "followup"
    assert fake.calls.count("attachment") >= 2  # the photos came from the fake's CDN route
    result = cv2.imdecode(np.frombuffer(posted.files[0], np.uint8), cv2.IMREAD_COLOR)
    assert result is not None and result.shape == astronaut.shape
    difference = np.abs(result.astype(np.int16) - astronaut.astype(np.int16)).mean(axis=2)
    face = difference[80:190, 175:265].mean()  # the astronaut's face: now Tom Hanks's
    corner = difference[400:, :120].mean()  # her suit and the flag, far from the face: JPEG noise only
    assert face > 10 and face > 4 * corner, (face, corner)

    # The gateway connection lives on: more heartbeats on the same session, no new IDENTIFY.
    beats = fake.gateway.heartbeats
    await _until(processes, lambda: fake.gateway.heartbeats >= beats + 2, "more heartbeats")
    assert len(fake.gateway.identifies) == 1 and len(fake.gateway.connections) == 1


# --- helpers ------------------------------------------------------------------------------------------


def _swap(fake: FakeDiscord, token: str, photos: list[tuple[str, int, int]]) -> dict[str, object]:
    """``/swap target:<first> [source:<second>]`` in a DM with the bot."""
    names = ["target", "source"]
    options = [
        {"name": names[index], "type": ATTACHMENT_OPTION, "value": str(attachment_id)}
        for index, (_, attachment_id, _) in enumerate(photos)
    ]
    attachments = [
        attachment(attachment_id, url, size, filename=f"{names[index]}.png")
        for index, (url, attachment_id, size) in enumerate(photos)
    ]
    return command_interaction(
        "swap",
        token=token,
        application_id=fake.application_id,
        user_id=USER_ID,
        channel_id=CHANNEL_ID,
        options=options,
        attachments=attachments,
    )


def _press(fake: FakeDiscord, custom_id: str) -> dict[str, object]:
    """A press of the button ``custom_id`` under the bot's message in the DM (a component interaction)."""
    token, _ = fake.interaction()
    payload = command_interaction(
        "-", token=token, application_id=fake.application_id, user_id=USER_ID, channel_id=CHANNEL_ID
    )
    payload["type"] = 3
    payload["data"] = {"custom_id": custom_id, "component_type": 2}
    button = {"type": 2, "style": 1, "label": "·", "custom_id": custom_id}
    payload["message"] = message_json(
        snowflake(),
        str(CHANNEL_ID),
        "…",
        [],
        author=user_json(fake.application_id, "SwapBot", bot=True),
        flags=64,
        components=[{"type": 1, "components": [button]}],
    )
    return payload


def _face_save(fake: FakeDiscord, token: str, url: str, attachment_id: int, size: int) -> dict[str, object]:
    """``/face save name:tom image:<photo>`` (a subcommand: its options nest under ``save``)."""
    options = [
        {"name": "name", "type": STRING_OPTION, "value": "tom"},
        {"name": "image", "type": ATTACHMENT_OPTION, "value": str(attachment_id)},
    ]
    return command_interaction(
        "face",
        token=token,
        application_id=fake.application_id,
        user_id=USER_ID,
        channel_id=CHANNEL_ID,
        options=[{"name": "save", "type": SUBCOMMAND_OPTION, "options": options}],
        attachments=[attachment(attachment_id, url, size, filename="hanks.png")],
    )


def _told(fake: FakeDiscord, words: str) -> bool:
    """Whether any message, edit or interaction reply so far says ``words``."""
    texts = [p.content or "" for p in fake.posted] + [text for _, text in fake.edits]
    texts += [reply.content or "" for reply in fake.replies]
    return any(words in text for text in texts)


def _env(fake: FakeDiscord) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("SWAPBOT_", "TELEGRAM_", "DATABASE_", "REDIS_", "DISCORD_", "STRIPE_"))
    }
    return env | fake.env() | {"DISCORD_BOT_TOKEN": fake.token, "DISCORD_API_URL": fake.api_url}


class _process:
    """``swapbot <args>`` running in ``cwd`` until the block ends; then SIGINT, and it must exit 0."""

    def __init__(self, args: list[str], env: dict[str, str], cwd: Path) -> None:
        self.args = args
        self.log = cwd / f"swapbot-{'-'.join(args)}.log"
        swapbot = Path(sys.executable).with_name("swapbot")
        self.handle = self.log.open("wb")
        self.process = subprocess.Popen(
            [str(swapbot), *args], cwd=cwd, env=env, stdout=self.handle, stderr=subprocess.STDOUT
        )

    def __enter__(self) -> _process:
        return self

    def __exit__(self, *exc: object) -> None:
        self.process.send_signal(signal.SIGINT)
        try:
            self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            raise AssertionError(f"swapbot {' '.join(self.args)} did not stop:\n{self.output()}") from None
        finally:
            self.handle.close()
        if exc[0] is None:
            assert self.process.returncode == 0, self.output()

    def output(self) -> str:
        return self.log.read_text(errors="replace")[-6000:]


async def _until(
    processes: list[_process], check: Callable[[], bool], what: str, timeout_s: float = 180
) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        for running in processes:
            if running.process.poll() is not None:
                raise AssertionError(
                    f"swapbot {' '.join(running.args)} exited while waiting for {what}:\n{running.output()}"
                )
        logs = "\n".join(f"--- swapbot {' '.join(r.args)}\n{r.output()}" for r in processes)
        assert time.monotonic() < deadline, f"gave up waiting for {what}:\n{logs}"
        await asyncio.sleep(0.1)
