"""The Discord harness: the real ``SwapBot`` (cogs, tree, context menu, buttons) logged in over
discord.py's own HTTP layer against the fake Discord API (tests/fakes/discord_server.py), Services on
Postgres, and the real queue: the in-process runner with the real executor and the worker's Discord
notifier (the classic engine where a job runs a face; ``@pytest.mark.engine("squares")`` for the
instant one); ``dc_both`` runs a test again on ARQ (Redis) with a worker of its own. Interactions are
raw INTERACTION_CREATE payloads handed to the client's connection state, exactly as the gateway would;
``dc.dispatch`` waits for what they started.

    async def test_x(dc: DiscordHarness) -> None:
        alice = dc.person()
        token = await dc.dispatch(alice.command("balance"))
        assert "3 credits" in dc.reply(token).content
"""

from __future__ import annotations

import asyncio
import itertools
import random
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

import discord
import pytest

from bot.discord.client import SwapBot
from bot.discord.context import language_of
from bot.discord.picker import PickerMarkup
from bot.services import BotConfig, Services
from bot.texts import Catalogue
from db import users
from db.models import User
from db.session import Database
from jobs.config import DiscordConfig
from jobs.platforms.discord import set_api_base
from jobs.queue import Queue
from swapbot.bots import open_discord
from tests import harness
from tests.db.conftest import fresh_postgres
from tests.fakes.discord_server import FakeDiscord, Posted, Reply, message_json, user_json
from tests.harness import Jobs
from tests.safety.kit import agree_first

SECRET = b"discord-tests-secret-key-0123456789"
REDIS_URL = "redis://localhost:6379/14"  # our own database number
UPLOAD_LIMIT = 10 * 1024 * 1024  # the interaction's attachment_size_limit in these payloads
# The tasks discord.py starts for an interaction: the tree's invoker, a view's or dynamic item's dispatch.
INTERACTION_TASKS = ("CommandTree-invoker", "discord-ui-")
_ids = itertools.count()


def snowflake() -> str:
    """An id made now (discord.py reads an interaction's time from its id: the token's 15 minutes)."""
    return str(discord.utils.time_snowflake(datetime.now(UTC)) + next(_ids) % 4096)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "engine(name): the engine the dc harness runs (classic, squares)")


@pytest.fixture(scope="session")
async def dc_postgres() -> AsyncIterator[Database]:
    async with fresh_postgres("swapbot_discord", pool=20) as db:
        yield db


@pytest.fixture
def discord_fake() -> Iterator[FakeDiscord]:
    with FakeDiscord() as fake:
        yield fake


@dataclass
class Attachment:
    id: str
    url: str
    filename: str
    size: int
    content_type: str | None

    def json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "id": self.id,
            "filename": self.filename,
            "size": self.size,
            "url": self.url,
            "proxy_url": self.url,
        }
        if self.content_type is not None:
            data["content_type"] = self.content_type
        return data


@dataclass
class Person:
    """A Discord user in a guild channel, who builds the interactions they would cause."""

    harness: DiscordHarness
    id: int
    name: str = "alice"
    locale: str = "en-US"
    channel_id: str = "5550001"
    dm: bool = False  # in a direct message with the bot rather than a guild channel

    @property
    def user_json(self) -> dict[str, Any]:
        return {
            "id": str(self.id),
            "username": self.name,
            "discriminator": "0",
            "global_name": self.name,
            "avatar": None,
        }

    def attach(
        self,
        data: bytes,
        filename: str = "photo.png",
        content_type: str | None = "image/png",
        size: int | None = None,
    ) -> Attachment:
        """A file this person attached (served by the fake); ``size`` as Discord reports it."""
        url, attachment_id = self.harness.fake.add_attachment(data, filename)
        return Attachment(
            str(attachment_id), url, filename, size if size is not None else len(data), content_type
        )

    def _base(self, kind: int, data: dict[str, Any]) -> dict[str, Any]:
        token, _ = self.harness.fake.interaction()
        if self.dm:
            return {
                "id": snowflake(),
                "application_id": str(self.harness.fake.application_id),
                "type": kind,
                "token": token,
                "version": 1,
                "locale": self.locale,
                "channel_id": self.channel_id,
                "channel": {"id": self.channel_id, "type": 1, "recipients": [self.user_json]},
                "user": self.user_json,
                "app_permissions": "2147483647",
                "attachment_size_limit": UPLOAD_LIMIT,
                "entitlements": [],
                "authorizing_integration_owners": {"1": str(self.id)},
                "context": 1,
                "data": data,
            }
        return {
            "id": snowflake(),
            "application_id": str(self.harness.fake.application_id),
            "type": kind,
            "token": token,
            "version": 1,
            "locale": self.locale,
            "guild_id": self.harness.guild_id,
            "guild_locale": "en-US",
            "channel_id": self.channel_id,
            "channel": {
                "id": self.channel_id,
                "type": 0,
                "guild_id": self.harness.guild_id,
                "name": "general",
                "position": 0,
                "permission_overwrites": [],
                "nsfw": False,
                "parent_id": None,
                "topic": None,
                "last_message_id": None,
                "rate_limit_per_user": 0,
                "flags": 0,
            },
            "member": {
                "user": self.user_json,
                "roles": [],
                "joined_at": datetime.now(UTC).isoformat(),
                "deaf": False,
                "mute": False,
                "permissions": "2147483647",
                "flags": 0,
            },
            "app_permissions": "2147483647",
            "attachment_size_limit": UPLOAD_LIMIT,
            "entitlements": [],
            "authorizing_integration_owners": {"0": self.harness.guild_id},
            "context": 0,
            "data": data,
        }

    def command(self, name: str, /, *path: str, **options: Any) -> dict[str, Any]:
        """``/name [path...] option:value``: attachments become resolved attachments."""
        resolved: dict[str, Any] = {}
        values = []
        for key, value in options.items():
            if isinstance(value, Attachment):
                resolved[value.id] = value.json()
                values.append({"name": key, "type": 11, "value": value.id})
            elif isinstance(value, bool):
                values.append({"name": key, "type": 5, "value": value})
            elif isinstance(value, int):
                values.append({"name": key, "type": 4, "value": value})
            elif isinstance(value, float):
                values.append({"name": key, "type": 10, "value": value})
            else:
                values.append({"name": key, "type": 3, "value": value})
        for sub in reversed(path):
            values = [{"name": sub, "type": 1, "options": values}]
        data: dict[str, Any] = {"id": snowflake(), "name": name, "type": 1, "options": values}
        if resolved:
            data["resolved"] = {"attachments": resolved}
        return self._base(2, data)

    def autocomplete(
        self, name: str, /, *path: str, focused: str, value: str, **options: Any
    ) -> dict[str, Any]:
        values: list[dict[str, Any]] = [{"name": k, "type": 3, "value": v} for k, v in options.items()]
        values.append({"name": focused, "type": 3, "value": value, "focused": True})
        for sub in reversed(path):
            values = [{"name": sub, "type": 1, "options": values}]
        return self._base(4, {"id": snowflake(), "name": name, "type": 1, "options": values})

    def menu(
        self, name: str, *attachments: Attachment, author: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """The message context menu ``name`` on a message carrying ``attachments``."""
        message_id = snowflake()
        bob = {"id": "4242", "username": "bob", "discriminator": "0", "avatar": None}
        attached = [a.json() for a in attachments]
        message = message_json(message_id, self.channel_id, "look", attached, author=author or bob)
        data = {
            "id": snowflake(),
            "name": name,
            "type": 3,
            "target_id": message_id,
            "resolved": {"messages": {message_id: message}},
        }
        return self._base(2, data)

    def press(self, custom_id: str) -> dict[str, Any]:
        """A button press on a bot message (type 3, component 2)."""
        payload = self._base(3, {"custom_id": custom_id, "component_type": 2})
        button = {"type": 2, "style": 1, "label": "·", "custom_id": custom_id}
        # The message carries the button pressed (discord.py finds the item there).
        payload["message"] = message_json(
            snowflake(),
            self.channel_id,
            "…",
            [],
            author=user_json(self.harness.fake.application_id, "SwapBot", bot=True),
            flags=64,
            components=[{"type": 1, "components": [button]}],
        )
        return payload

    async def user(self) -> User:
        async with self.harness.db.session() as session:
            found = await users.find(session, "discord", self.id)
        assert found is not None, f"discord user {self.id} has no row"
        return found


@dataclass
class DiscordHarness:
    fake: FakeDiscord
    bot: SwapBot
    db: Database
    jobs: Jobs  # the queue and the services (tests/harness.py)
    engine: Any
    guild_id: str = field(default_factory=snowflake)
    _to_agree: set[str] = field(default_factory=set)
    _agreeing: dict[str, asyncio.Future[None]] = field(default_factory=dict)

    @property
    def queue(self) -> Queue:
        return self.jobs.queue

    @property
    def services(self) -> Services:
        return self.jobs.services

    def person(self, name: str = "alice", locale: str = "en-US", *, agreed: bool = True) -> Person:
        """A new Discord user. ``agreed``: they have agreed to the terms in force by the time of their
        first interaction (tests of consent pass False)."""
        person = Person(self, random.randint(10**17, 10**18), name, locale)
        if agreed:
            self._to_agree.add(str(person.id))
        return person

    async def dispatch(self, payload: dict[str, Any]) -> str:
        """Hand ``payload`` to discord.py as the gateway's INTERACTION_CREATE and wait for the tasks it
        started (the tree's invoker, a button's callback); returns the interaction token."""
        sender = (payload.get("member") or {}).get("user") or payload.get("user") or {}
        who = sender.get("id")
        if who in self._to_agree:  # once, and every interaction of theirs meanwhile waits for it
            self._to_agree.discard(who)
            agreeing = agree_first(
                self.services,
                "discord",
                who,
                display_name=sender.get("global_name") or sender.get("username"),
                language=language_of(payload.get("locale")),
            )
            self._agreeing[who] = asyncio.ensure_future(agreeing)
        if who in self._agreeing:
            await self._agreeing[who]
        before = asyncio.all_tasks()
        self.bot._connection.parse_interaction_create(payload)  # type: ignore[arg-type]
        await asyncio.sleep(0)
        started = [
            task
            for task in asyncio.all_tasks() - before
            if task.get_name().startswith(INTERACTION_TASKS) and not task.done()
        ]
        if started:
            await asyncio.gather(*started)
        return str(payload["token"])

    async def idle(self) -> None:
        """Until no job waits or runs."""
        await self.jobs.drain()

    def replies(self, token: str) -> list[Reply]:
        return self.fake.replies_to(token)

    def said(self, token: str) -> list[str]:
        """Everything the asker was shown for this interaction: the response, its edits, and the
        followups made with its token, in order."""
        texts = [r.content for r in self.fake.replies_to(token) if r.content]
        original = self.fake.originals.get(token)
        texts += [
            text for message_id, text in self.fake.edits if message_id == original and text not in texts
        ]
        return texts

    def last(self, token: str) -> Reply:
        replies = self.fake.replies_to(token)
        assert replies, f"no answer to interaction {token}"
        return replies[-1]

    def followups(self) -> list[Posted]:
        return [p for p in self.fake.posted if p.via == "followup"]


def engine_for(request: pytest.FixtureRequest) -> Any:
    return harness.engine_for(request, "classic")


async def open_dc(
    db: Database,
    fake: FakeDiscord,
    engine: Any,
    *,
    config: BotConfig | None = None,
    limiter: Any = None,
    redis_url: str | None = None,
) -> DiscordHarness:
    set_api_base(fake.api_url)  # what a process built with Discord settings does at start-up
    texts = Catalogue()
    config = config or BotConfig(secret_key=SECRET)
    wcfg = harness.worker_config(
        db,
        redis_url=redis_url,
        discord=DiscordConfig(fake.token, fake.api_url, fake.application_id),
        urls=fake.url_policy(),
    )
    jobs = await harness.open_jobs(
        db,
        engine,
        replace(wcfg, queue=replace(wcfg.queue, concurrency=2)),
        bot_config=config,
        # the face picker's buttons on numbered previews, as swapbot wires them
        markups={"discord": PickerMarkup(texts, config.secret_key)},
        texts=texts,
        limiter=limiter,
    )
    bot = open_discord(jobs.services)  # the bot as swapbot opens it, on the harness's parts
    await bot.login(fake.token)  # static login, application info, setup_hook (cogs, sync)
    return DiscordHarness(fake, bot, db, jobs, engine)


async def close_dc(dc: DiscordHarness) -> None:
    await dc.bot.close()
    await dc.jobs.close()


@pytest.fixture(params=["local", "arq"])
async def dc_both(
    request: pytest.FixtureRequest, discord_fake: FakeDiscord, dc_postgres: Database
) -> AsyncIterator[DiscordHarness]:
    """A test run twice: jobs in the bot's process, and on ARQ with a worker of their own."""
    redis_url = REDIS_URL if request.param == "arq" else None
    harness = await open_dc(dc_postgres, discord_fake, engine_for(request), redis_url=redis_url)
    try:
        yield harness
    finally:
        await close_dc(harness)


@pytest.fixture
async def dc(
    request: pytest.FixtureRequest, discord_fake: FakeDiscord, dc_postgres: Database
) -> AsyncIterator[DiscordHarness]:
    harness = await open_dc(dc_postgres, discord_fake, engine_for(request))
    try:
        yield harness
    finally:
        await close_dc(harness)
