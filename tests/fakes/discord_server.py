"""A fake Discord REST API (``/api/v10``), enough for discord.py's ``HTTPClient`` and ``Webhook``.

Interaction followups (``POST /webhooks/<application>/<token>``) work while the token is valid and
answer 404 "Unknown Webhook" (code 10015) after, as Discord does after 15 minutes; status messages are
edited with ``PATCH /webhooks/<application>/<token>/messages/<id>``. Channel messages, DM channel
creation and attachment downloads (``/attachments/<id>/<name>``) are served; a channel can refuse the
bot (403 Missing Access, 50001) and a user can refuse DMs (403, 50007). Scripts per route give 5xx/429.
``/redirect/<id>`` answers 302 to a URL a test chose (a CDN link that points elsewhere).

The attachments live on 127.0.0.1 over plain HTTP: a fetcher takes them only with ``url_policy()``
(the host list holding 127.0.0.1, private addresses allowed), as ``SWAPBOT_ALLOW_PRIVATE_FETCH`` and
``DISCORD_ATTACHMENT_HOSTS=127.0.0.1`` do for a process (``env()``).

``gateway`` is the websocket gateway (tests/fakes/discord_gateway.py) on the same server.
"""

from __future__ import annotations

import itertools
import json
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import TracebackType
from typing import Any

from aiohttp import web

from jobs.config import UrlPolicy
from tests.fakes import Script, ServerThread
from tests.fakes.discord_gateway import FakeGateway

TOKEN = "ODk0NTY3ODkwMTIzNDU2Nzg5.FAKE.discord-bot-token"
APPLICATION_ID = 894567890123456789


@dataclass
class Posted:
    """A message the bot made: ``via`` followup/channel; ``channel_id`` where it went."""

    via: str
    channel_id: str
    message_id: int
    content: str | None
    files: list[bytes]
    payload: dict[str, Any] = field(default_factory=dict)  # the whole JSON body (flags, components)


@dataclass
class Reply:
    """An interaction's own answer: ``kind`` "callback" (its ``type``: 4 message, 5 defer, 6 deferred
    update, 7 update, 8 autocomplete) or "edit" (of the original response); ``payload`` as sent."""

    token: str
    kind: str
    type: int | None
    payload: dict[str, Any]

    @property
    def content(self) -> str | None:
        return self.payload.get("content")

    @property
    def ephemeral(self) -> bool:
        return bool(int(self.payload.get("flags") or 0) & 64)


class FakeDiscord:
    def __init__(self, token: str = TOKEN, application_id: int = APPLICATION_ID) -> None:
        self.token = token
        self.application_id = application_id
        self.scripts: dict[str, Script] = {}
        self.posted: list[Posted] = []
        self.edits: list[tuple[int, str]] = []  # (message id, content) of status edits
        self.calls: list[str] = []
        self.valid_tokens: set[str] = set()
        self.closed_channels: set[str] = set()  # channels the bot may not post in
        self.closed_dms: set[str] = set()  # users who do not accept DMs from the bot
        self.dm_channels: dict[str, str] = {}  # user id -> DM channel id
        self.replies: list[Reply] = []  # interaction callbacks and edits of original responses
        self.originals: dict[str, int] = {}  # interaction token -> its original response's message id
        self.answered: set[str] = set()  # tokens whose interaction was acknowledged (once only)
        self.commands: dict[str, list[dict[str, Any]]] = {}  # "global" or a guild id -> synced commands
        self._attachments: dict[str, bytes] = {}
        self._streamed: set[str] = set()  # attachments sent chunked, without a Content-Length
        self._redirects: dict[str, str] = {}
        self._ids = itertools.count(1_100_000_000_000_000_000)
        self._lock = threading.Lock()
        app = web.Application(client_max_size=64 * 1024 * 1024)
        api = "/api/v10"
        app.router.add_get(f"{api}/users/@me", self._me)
        app.router.add_get(f"{api}/oauth2/applications/@me", self._application)
        # Interactions: the callback, the original response (before the generic message routes, which
        # would take "@original" for a message id), and command sync.
        app.router.add_post(f"{api}/interactions/{{id}}/{{token}}/callback", self._callback)
        original = f"{api}/webhooks/{{app}}/{{token}}/messages/@original"
        app.router.add_get(original, self._get_original)
        app.router.add_patch(original, self._edit_original)
        app.router.add_put(f"{api}/applications/{{app}}/commands", self._sync)
        app.router.add_put(f"{api}/applications/{{app}}/guilds/{{guild}}/commands", self._sync)
        app.router.add_post(f"{api}/webhooks/{{app}}/{{token}}", self._followup)
        app.router.add_patch(f"{api}/webhooks/{{app}}/{{token}}/messages/{{message}}", self._edit_followup)
        app.router.add_post(f"{api}/channels/{{channel}}/messages", self._channel_message)
        app.router.add_post(f"{api}/users/@me/channels", self._open_dm)
        app.router.add_get("/attachments/{id}/{name}", self._attachment)
        app.router.add_get("/redirect/{id}", self._redirect)
        self.gateway = FakeGateway(self)  # the websocket, and GET /gateway and /gateway/bot naming it
        self.gateway.install(app)
        self.server = ServerThread(app)

    # --- test side ------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def api_url(self) -> str:
        return f"{self.server.url}/api/v10"

    def start(self) -> FakeDiscord:
        self.server.start()
        return self

    def stop(self) -> None:
        self.server.stop()

    def __enter__(self) -> FakeDiscord:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def script(self, route: str) -> Script:
        with self._lock:
            return self.scripts.setdefault(route, Script())

    def add_attachment(
        self, data: bytes, name: str = "photo.png", *, streamed: bool = False
    ) -> tuple[str, int]:
        """A file a user attached: returns (url, attachment id). ``streamed``: served chunked, so its
        size is known only by reading it."""
        attachment_id = next(self._ids)
        self._attachments[str(attachment_id)] = data
        if streamed:
            self._streamed.add(str(attachment_id))
        return f"{self.url}/attachments/{attachment_id}/{name}", attachment_id

    def add_redirect(self, location: str) -> str:
        """A URL on this server that answers 302 to ``location``."""
        redirect_id = str(next(self._ids))
        self._redirects[redirect_id] = location
        return f"{self.url}/redirect/{redirect_id}"

    def url_policy(self) -> UrlPolicy:
        """What a fetcher needs to take this fake's attachments (127.0.0.1, plain HTTP)."""
        return UrlPolicy(frozenset({self.server.host}), allow_private=True)

    def env(self) -> dict[str, str]:
        """The same for a ``swapbot`` process, as environment variables."""
        return {"DISCORD_ATTACHMENT_HOSTS": self.server.host, "SWAPBOT_ALLOW_PRIVATE_FETCH": "true"}

    def interaction(self) -> tuple[str, int]:
        """A fresh interaction token and the id of its original response (the status message)."""
        token = f"aW50ZXJhY3Rpb24-{next(self._ids)}"
        self.valid_tokens.add(token)
        original = next(self._ids)
        self.originals[token] = original
        return token, original

    def replies_to(self, token: str) -> list[Reply]:
        return [reply for reply in self.replies if reply.token == token]

    def posted_to(self, channel_id: str | int) -> list[Posted]:
        return [p for p in self.posted if p.channel_id == str(channel_id)]

    # --- the API ----------------------------------------------------------------------------------

    def _authorised(self, request: web.Request) -> bool:
        return request.headers.get("Authorization") == f"Bot {self.token}"

    async def _scripted(self, route: str) -> web.Response | None:
        self.calls.append(route)
        reply = self.script(route).next()
        if reply.status == 200:
            return None
        if reply.status == 429:
            retry = float(reply.headers.get("Retry-After", "1"))
            return _error(429, "You are being rate limited.", 0, {"retry_after": retry, "global": False})
        return _error(reply.status, reply.message or "Internal Server Error", 0)

    async def _me(self, request: web.Request) -> web.Response:
        if not self._authorised(request):
            return _error(401, "401: Unauthorized", 0)
        return _json(user_json(self.application_id, "SwapBot", bot=True))

    async def _application(self, request: web.Request) -> web.Response:
        if not self._authorised(request):
            return _error(401, "401: Unauthorized", 0)
        # Every field discord.py's AppInfo requires (Client.login reads it before connecting).
        return _json(
            {
                "id": str(self.application_id),
                "name": "SwapBot",
                "description": "",
                "icon": None,
                "bot_public": True,
                "bot_require_code_grant": False,
                "owner": user_json(1, "owner"),
                "verify_key": "0" * 64,
                "flags": 0,
            }
        )

    async def _followup(self, request: web.Request) -> web.Response:
        failure = await self._scripted("followup")
        if failure is not None:
            return failure
        if (
            int(request.match_info["app"]) != self.application_id
            or request.match_info["token"] not in self.valid_tokens
        ):
            return _error(404, "Unknown Webhook", 10015)
        payload, files = await _message_payload(request)
        channel_id = "followup"
        return _json(
            self._post("followup", channel_id, payload.get("content"), files, webhook=True, payload=payload)
        )

    async def _callback(self, request: web.Request) -> web.Response:
        failure = await self._scripted("callback")
        if failure is not None:
            return failure
        token = request.match_info["token"]
        if token not in self.valid_tokens:
            return _error(404, "Unknown interaction", 10062)
        if token in self.answered:
            return _error(400, "Interaction has already been acknowledged.", 40060)
        self.answered.add(token)
        body, _ = await _message_payload(request)
        kind = int(body.get("type", 0))
        payload = dict(body.get("data") or {})
        self.replies.append(Reply(token, "callback", kind, payload))
        original = self.originals.setdefault(token, next(self._ids))
        answer: dict[str, Any] = {
            "interaction": {
                "id": request.match_info["id"],
                "type": 2,
                "response_message_id": str(original),
                "response_message_loading": kind == 5,
                "response_message_ephemeral": bool(int(payload.get("flags") or 0) & 64),
            }
        }
        if kind in (4, 5, 7):
            content = payload.get("content")
            answer["resource"] = {
                "type": kind,
                "message": message_json(original, "followup", content, [], webhook_id=self.application_id),
            }
        return _json(answer)

    async def _get_original(self, request: web.Request) -> web.Response:
        token = request.match_info["token"]
        if token not in self.valid_tokens or token not in self.answered:
            return _error(404, "Unknown Message", 10008)
        edits = [r.content for r in self.replies_to(token) if r.content is not None]
        original = self.originals[token]
        return _json(
            message_json(
                original, "followup", edits[-1] if edits else None, [], webhook_id=self.application_id
            )
        )

    async def _edit_original(self, request: web.Request) -> web.Response:
        failure = await self._scripted("edit")
        if failure is not None:
            return failure
        token = request.match_info["token"]
        if token not in self.valid_tokens or token not in self.answered:
            return _error(404, "Unknown Webhook", 10015)
        payload, _ = await _message_payload(request)
        self.replies.append(Reply(token, "edit", None, payload))
        original = self.originals[token]
        if payload.get("content") is not None:
            self.edits.append((original, payload["content"]))
        return _json(
            message_json(original, "followup", payload.get("content"), [], webhook_id=self.application_id)
        )

    async def _sync(self, request: web.Request) -> web.Response:
        if not self._authorised(request):
            return _error(401, "401: Unauthorized", 0)
        commands = await request.json()
        self.commands[request.match_info.get("guild", "global")] = commands
        answered = [
            {
                "description": "",  # context menus have none; Discord answers an empty one
                **command,
                "id": str(next(self._ids)),
                "application_id": str(self.application_id),
                "version": "1",
            }
            for command in commands
        ]
        return _json(answered)

    async def _edit_followup(self, request: web.Request) -> web.Response:
        failure = await self._scripted("edit")
        if failure is not None:
            return failure
        if request.match_info["token"] not in self.valid_tokens:
            return _error(404, "Unknown Webhook", 10015)
        content, _ = await _message_body(request)
        message_id = int(request.match_info["message"])
        self.edits.append((message_id, content or ""))
        return _json(message_json(message_id, "followup", content, [], webhook_id=self.application_id))

    async def _channel_message(self, request: web.Request) -> web.Response:
        failure = await self._scripted("channel")
        if failure is not None:
            return failure
        if not self._authorised(request):
            return _error(401, "401: Unauthorized", 0)
        channel_id = request.match_info["channel"]
        if channel_id in self.closed_channels:
            return _error(403, "Missing Access", 50001)
        user = next((u for u, c in self.dm_channels.items() if c == channel_id), None)
        if user is not None and user in self.closed_dms:
            return _error(403, "Cannot send messages to this user", 50007)
        content, files = await _message_body(request)
        return _json(self._post("channel", channel_id, content, files))

    async def _open_dm(self, request: web.Request) -> web.Response:
        if not self._authorised(request):
            return _error(401, "401: Unauthorized", 0)
        user_id = str((await request.json())["recipient_id"])
        channel_id = self.dm_channels.setdefault(user_id, str(next(self._ids)))
        return _json({"id": channel_id, "type": 1, "recipients": [user_json(int(user_id), "someone")]})

    async def _attachment(self, request: web.Request) -> web.StreamResponse:
        failure = await self._scripted("attachment")
        if failure is not None:
            return web.Response(status=failure.status)
        data = self._attachments.get(request.match_info["id"])
        if data is None:
            return web.Response(status=404, text="Not Found")
        if request.match_info["id"] not in self._streamed:
            return web.Response(body=data, content_type="image/png")
        response = web.StreamResponse(headers={"Content-Type": "image/png"})
        response.enable_chunked_encoding()
        await response.prepare(request)
        for start in range(0, len(data), 4096):
            await response.write(data[start : start + 4096])
        await response.write_eof()
        return response

    async def _redirect(self, request: web.Request) -> web.Response:
        self.calls.append("redirect")
        location = self._redirects.get(request.match_info["id"])
        if location is None:
            return web.Response(status=404, text="Not Found")
        return web.Response(status=302, headers={"Location": location})

    def _post(
        self,
        via: str,
        channel_id: str,
        content: str | None,
        files: list[bytes],
        *,
        webhook: bool = False,
        payload: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        message_id = next(self._ids)
        self.posted.append(Posted(via, channel_id, message_id, content, files, payload or {}))
        attachments = []
        for number, data in enumerate(files):
            url, attachment_id = self.add_attachment(data, f"result{number}.jpg")
            attachments.append(
                {
                    "id": str(attachment_id),
                    "filename": f"result{number}.jpg",
                    "size": len(data),
                    "url": url,
                    "proxy_url": url,
                    "content_type": "image/jpeg",
                }
            )
        return message_json(
            message_id, channel_id, content, attachments, webhook_id=self.application_id if webhook else None
        )


async def _message_payload(request: web.Request) -> tuple[dict[str, Any], list[bytes]]:
    """The JSON body (or multipart ``payload_json``) and the files, for routes that keep all of it."""
    if request.content_type == "application/json":
        return await request.json(), []
    payload: dict[str, Any] = {}
    files: list[bytes] = []
    reader = await request.multipart()
    async for part in reader:
        if part.name == "payload_json":
            payload = json.loads(await part.text())
        elif part.name and part.name.startswith("files["):
            files.append(bytes(await part.read()))
    return payload, files


async def _message_body(request: web.Request) -> tuple[str | None, list[bytes]]:
    """``payload_json`` plus ``files[n]`` parts (multipart), or a JSON body."""
    if request.content_type == "application/json":
        return (await request.json()).get("content"), []
    payload: dict[str, Any] = {}
    files: list[bytes] = []
    reader = await request.multipart()
    async for part in reader:
        if part.name == "payload_json":
            payload = json.loads(await part.text())
        elif part.name and part.name.startswith("files["):
            files.append(bytes(await part.read()))
    return payload.get("content"), files


def user_json(user_id: int, name: str, *, bot: bool = False) -> dict[str, Any]:
    return {
        "id": str(user_id),
        "username": name,
        "discriminator": "0",
        "global_name": name,
        "avatar": None,
        "bot": bot,
    }


def message_json(
    message_id: int | str,
    channel_id: str,
    content: str | None,
    attachments: list[dict[str, Any]],
    *,
    author: dict[str, Any] | None = None,
    flags: int = 0,
    components: list[dict[str, Any]] | None = None,
    webhook_id: int | None = None,
) -> dict[str, Any]:
    """A message object as Discord sends it (the tests' interactions carry these too); by the bot,
    unless ``author``."""
    message: dict[str, Any] = {
        "id": str(message_id),
        "channel_id": channel_id if channel_id.isdigit() else "1",
        "type": 0,
        "content": content or "",
        "author": author or user_json(APPLICATION_ID, "SwapBot", bot=True),
        "attachments": attachments,
        "embeds": [],
        "mentions": [],
        "mention_roles": [],
        "pinned": False,
        "mention_everyone": False,
        "tts": False,
        "timestamp": datetime.now(UTC).isoformat(),
        "edited_timestamp": None,
        "flags": flags,
        "components": components or [],
    }
    if webhook_id is not None:
        message["webhook_id"] = str(webhook_id)
    return message


def _error(status: int, message: str, code: int, extra: dict[str, Any] | None = None) -> web.Response:
    return _json({"message": message, "code": code, **(extra or {})}, status=status)


def _json(body: Any, status: int = 200) -> web.Response:
    # Exactly "application/json", as Discord sends it: discord.py parses nothing else as JSON.
    return web.Response(
        body=json.dumps(body).encode(), status=status, headers={"Content-Type": "application/json"}
    )
