"""A fake Discord gateway (the websocket a bot holds open), served by the fake Discord REST server.

``GET /api/v10/gateway`` and ``/gateway/bot`` name its URL (``ws://127.0.0.1:<port>/gateway``). A
connection goes as Discord's does: op 10 HELLO (a short heartbeat interval), the bot's op 2 IDENTIFY
(its token checked: a wrong one is closed with 4004 "Authentication failed"), op 0 READY (the bot user,
the application id and flags, a session id, the resume URL, no guilds); op 1 heartbeats are answered
with op 11 ACK and counted. A RESUME (op 6) is answered with RESUMED.

``compress=zlib-stream`` in the URL (what discord.py asks for) gets binary frames from one zlib stream
per connection, each message ending in a sync flush, as Discord sends them; without it, text frames.

The test side dispatches events (``dispatch``, ``interaction``) to every identified connection, from
any thread. ``command_interaction`` builds an INTERACTION_CREATE payload for a slash command.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import threading
import time
import zlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from aiohttp import WSMsgType, web

if TYPE_CHECKING:
    from tests.fakes.discord_server import FakeDiscord

HELLO, IDENTIFY, DISPATCH, HEARTBEAT, RESUME, HEARTBEAT_ACK = 10, 2, 0, 1, 6, 11
DISCORD_EPOCH_MS = 1_420_070_400_000
_increments = itertools.count()
AUTHENTICATION_FAILED = 4004
ZLIB_SUFFIX = b"\x00\x00\xff\xff"


@dataclass
class Connection:
    """One websocket session: what the bot sent, and how to reach it from the test's thread."""

    ws: web.WebSocketResponse
    loop: asyncio.AbstractEventLoop
    compressor: Any | None  # a zlib compress object when the bot asked for zlib-stream
    session_id: str
    identify: dict[str, Any] | None = None
    sequence: int = 0
    heartbeats: int = 0
    closed: bool = False
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    async def send(self, payload: dict[str, Any]) -> None:
        async with self.lock:  # one frame at a time: the zlib stream is shared across frames
            text = json.dumps(payload)
            if self.compressor is None:
                await self.ws.send_str(text)
            else:
                data = self.compressor.compress(text.encode()) + self.compressor.flush(zlib.Z_SYNC_FLUSH)
                await self.ws.send_bytes(data)

    async def dispatch(self, event: str, data: dict[str, Any]) -> None:
        self.sequence += 1
        await self.send({"op": DISPATCH, "t": event, "s": self.sequence, "d": data})


class FakeGateway:
    """The gateway half of ``FakeDiscord`` (which installs it on its app and owns the REST routes)."""

    def __init__(self, discord: FakeDiscord, *, heartbeat_interval_ms: int = 500) -> None:
        self.discord = discord
        self.heartbeat_interval_ms = heartbeat_interval_ms
        self.connections: list[Connection] = []
        self.identified = threading.Event()  # set on the first READY sent
        self.refused: list[str] = []  # tokens whose IDENTIFY was refused
        self.resumes = 0
        self._ids = itertools.count(1)
        self._changed = threading.Condition()

    def install(self, app: web.Application) -> None:
        app.router.add_get("/api/v10/gateway", self._gateway_url)
        app.router.add_get("/api/v10/gateway/bot", self._gateway_bot)
        app.router.add_get("/gateway", self._websocket)

    # --- test side ------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"ws://{self.discord.server.host}:{self.discord.server.port}/gateway"

    @property
    def heartbeats(self) -> int:
        """Heartbeats acknowledged so far, over every connection."""
        return sum(connection.heartbeats for connection in self.connections)

    @property
    def identifies(self) -> list[dict[str, Any]]:
        return [c.identify for c in self.connections if c.identify is not None]

    def wait_for(self, condition: Any, timeout: float = 30.0) -> bool:
        """Block the test's thread until ``condition()`` holds (re-checked on every gateway event)."""
        with self._changed:
            return self._changed.wait_for(condition, timeout)

    def wait_ready(self, timeout: float = 30.0) -> bool:
        return self.wait_for(lambda: any(c.identify and not c.closed for c in self.connections), timeout)

    def wait_heartbeats(self, count: int, timeout: float = 30.0) -> bool:
        return self.wait_for(lambda: self.heartbeats >= count, timeout)

    def dispatch(self, event: str, data: dict[str, Any], timeout: float = 10.0) -> int:
        """Send a DISPATCH event to every live, identified connection; returns how many got it."""
        live = [c for c in self.connections if c.identify is not None and not c.closed]
        for connection in live:
            future = asyncio.run_coroutine_threadsafe(connection.dispatch(event, data), connection.loop)
            future.result(timeout)
        return len(live)

    def interaction(self, payload: dict[str, Any]) -> int:
        return self.dispatch("INTERACTION_CREATE", payload)

    # --- the gateway ----------------------------------------------------------------------------

    def _notify(self) -> None:
        with self._changed:
            self._changed.notify_all()

    async def _gateway_url(self, request: web.Request) -> web.Response:
        return _json({"url": self.url})

    async def _gateway_bot(self, request: web.Request) -> web.Response:
        if request.headers.get("Authorization") != f"Bot {self.discord.token}":
            return _json({"message": "401: Unauthorized", "code": 0}, status=401)
        limit = {"total": 1000, "remaining": 999, "reset_after": 0, "max_concurrency": 1}
        return _json({"url": self.url, "shards": 1, "session_start_limit": limit})

    async def _websocket(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(max_msg_size=0)
        await ws.prepare(request)
        compress = request.query.get("compress")
        connection = Connection(
            ws,
            asyncio.get_running_loop(),
            zlib.compressobj() if compress == "zlib-stream" else None,
            f"fake-session-{next(self._ids)}",
        )
        self.connections.append(connection)
        try:
            await connection.send({"op": HELLO, "d": {"heartbeat_interval": self.heartbeat_interval_ms}})
            async for message in ws:
                if message.type is not WSMsgType.TEXT:
                    break
                await self._received(connection, json.loads(message.data))
        finally:
            connection.closed = True
            self._notify()
        return ws

    async def _received(self, connection: Connection, message: dict[str, Any]) -> None:
        op, data = message.get("op"), message.get("d")
        if op == HEARTBEAT:
            connection.heartbeats += 1
            await connection.send({"op": HEARTBEAT_ACK})
        elif op == IDENTIFY:
            token = (data or {}).get("token")
            if token != self.discord.token:
                self.refused.append(str(token))
                await connection.ws.close(code=AUTHENTICATION_FAILED, message=b"Authentication failed.")
                return
            connection.identify = data
            await connection.dispatch("READY", self._ready(connection))
            self.identified.set()
        elif op == RESUME:
            self.resumes += 1
            connection.identify = data
            await connection.dispatch("RESUMED", {})
        self._notify()

    def _ready(self, connection: Connection) -> dict[str, Any]:
        app_id = self.discord.application_id
        return {
            "v": 10,
            "user": {
                "id": str(app_id),
                "username": "SwapBot",
                "discriminator": "0",
                "global_name": "SwapBot",
                "avatar": None,
                "bot": True,
                "verified": True,
                "flags": 0,
                "mfa_enabled": True,
            },
            "application": {"id": str(app_id), "flags": 0},
            "session_id": connection.session_id,
            "resume_gateway_url": self.url,
            "guilds": [],
            "private_channels": [],
            "relationships": [],
            "user_settings": {},
            "presences": [],
            "guild_join_requests": [],
            "geo_ordered_rtc_regions": [],
            "session_type": "normal",
            "shard": [0, 1],
        }


def _json(body: Any, status: int = 200) -> web.Response:
    # Exactly "application/json" (no charset), as Discord sends it: discord.py parses nothing else.
    return web.Response(
        body=json.dumps(body).encode(), status=status, headers={"Content-Type": "application/json"}
    )


def snowflake() -> int:
    """A Discord id made now: its top bits are the time it was made (discord.py reads an interaction's
    age, and so its token's expiry, from it)."""
    return ((int(time.time() * 1000) - DISCORD_EPOCH_MS) << 22) | (next(_increments) % 4096)


def command_interaction(
    name: str,
    *,
    token: str,
    interaction_id: int | None = None,
    application_id: int,
    user_id: int,
    channel_id: int,
    options: list[dict[str, Any]] | None = None,
    attachments: list[dict[str, Any]] | None = None,
    locale: str = "en-US",
    attachment_size_limit: int = 10 * 1024 * 1024,
) -> dict[str, Any]:
    """INTERACTION_CREATE's payload for ``/name`` typed in a DM with the bot. ``options``: the command's
    options as Discord sends them (an attachment option's value is the attachment id); ``attachments``:
    their resolved objects (``attachment(...)``). ``interaction_id``: made now unless given (an id from
    the past is an interaction whose token has expired)."""
    interaction_id = interaction_id if interaction_id is not None else snowflake()
    user = {
        "id": str(user_id),
        "username": f"user{user_id}",
        "discriminator": "0",
        "global_name": f"User {user_id}",
        "avatar": None,
    }
    data: dict[str, Any] = {"id": str(interaction_id + 1), "name": name, "type": 1, "options": options or []}
    if attachments:
        data["resolved"] = {"attachments": {item["id"]: item for item in attachments}}
    return {
        "id": str(interaction_id),
        "application_id": str(application_id),
        "type": 2,
        "token": token,
        "version": 1,
        "data": data,
        "channel_id": str(channel_id),
        "channel": {"id": str(channel_id), "type": 1, "recipients": [user]},
        "user": user,
        "locale": locale,
        "app_permissions": "0",
        "entitlements": [],
        "authorizing_integration_owners": {"1": str(user_id)},
        "context": 1,
        "attachment_size_limit": attachment_size_limit,
    }


def attachment(
    attachment_id: int, url: str, size: int, *, filename: str = "photo.png", content_type: str = "image/png"
) -> dict[str, Any]:
    """A resolved attachment object (width and height left out: Discord omits them at times too)."""
    return {
        "id": str(attachment_id),
        "filename": filename,
        "size": size,
        "url": url,
        "proxy_url": url,
        "content_type": content_type,
    }
