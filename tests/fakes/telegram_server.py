"""A fake Telegram Bot API server, enough for aiogram's ``Bot`` pointed at it.

``POST /bot<token>/<method>`` answers getMe, getFile, sendMessage, sendPhoto, sendDocument and
editMessageText the way the Bot API does (``{"ok": true, "result": ...}``, errors with ``error_code``,
``description`` and, for 429, ``parameters.retry_after``); ``GET /file/bot<token>/<path>`` serves files.
Any other method gets a plausible answer (a message for the send/edit family, ``true`` for the rest).
``getUpdates`` long-polls a queue of updates the test pushes (``push_update``), honouring ``offset``
and ``timeout`` as Telegram does. Photos and documents sent by the bot become files too, so a stored
file_id can be sent again. Every method has a ``Script`` of replies (5xx, 429 with retry_after, 403
"bot was blocked by the user", a front proxy's HTML error page); every call is recorded with its
parsed fields (``requests``), and what the bot sends is recorded as ``Sent``.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import threading
import time
from dataclasses import dataclass
from types import TracebackType
from typing import Any

from aiohttp import web

from tests.fakes import Reply, Script, ServerThread

TOKEN = "123456:TEST-fake-token-for-the-bot-api"
BLOCKED = "Forbidden: bot was blocked by the user"
GET_FILE_LIMIT = 20 * 1024 * 1024  # getFile refuses bigger files, as the public Bot API does


def retry_after(seconds: int, description: str | None = None) -> Reply:
    return Reply(
        429, description or f"Too Many Requests: retry after {seconds}", headers={"Retry-After": str(seconds)}
    )


def blocked() -> Reply:
    return Reply(403, BLOCKED)


def server_error(status: int = 502, description: str = "Bad Gateway") -> Reply:
    return Reply(status, description)


def proxy_error(status: int = 502) -> Reply:
    """An error page from a proxy in front of the Bot API (nginx, a CDN): HTML, not the API's JSON."""
    page = f"<html><head><title>{status} Bad Gateway</title></head><body><h1>{status}</h1></body></html>"
    return Reply(status, body=page.encode())


def bad_request(description: str) -> Reply:
    return Reply(400, f"Bad Request: {description}")


@dataclass
class Sent:
    """One message the bot sent: ``kind`` photo/document/message, the file bytes (None when sent by
    file_id), the file_id it got, and ``reply_to`` (the status message it answered)."""

    kind: str
    chat_id: str
    message_id: int
    data: bytes | None
    file_id: str | None
    caption: str | None
    text: str | None
    reply_to: int | None
    at: float = 0.0  # time.time() when it arrived (benchmarks measure delivery latency with it)


@dataclass
class Call:
    """One Bot API call as the fake received it: JSON-looking fields (reply_markup, media, prices ...)
    parsed, the names of the uploaded files, and whether it was answered ``ok``."""

    method: str
    fields: dict[str, Any]
    uploads: tuple[str, ...]
    ok: bool
    at: float


@dataclass
class Edit:
    chat_id: str
    message_id: int
    text: str


class FakeTelegram:
    def __init__(self, token: str = TOKEN) -> None:
        self.token = token
        self.scripts: dict[str, Script] = {}
        self.sent: list[Sent] = []
        self.edits: list[Edit] = []
        self.calls: list[str] = []  # every method called, failed or not, in order
        self.requests: list[Call] = []  # every call with its fields, failed or not, in order
        self._updates: list[dict[str, Any]] = []  # pushed, not yet confirmed by an offset
        self._update_ids = itertools.count(1)
        self._files: dict[str, tuple[str, bytes]] = {}  # file_id -> (file_unique_id, bytes)
        self._texts: dict[tuple[str, int], str] = {}
        self._message_ids = itertools.count(1000)
        self._file_numbers = itertools.count(1)
        self._lock = threading.Lock()
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/bot{token}/{method}", self._method)
        app.router.add_get("/file/bot{token}/{path:.+}", self._file)
        self.server = ServerThread(app)

    # --- test side ------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        return self.server.url

    def start(self) -> FakeTelegram:
        self.server.start()
        return self

    def stop(self) -> None:
        self.server.stop()

    def __enter__(self) -> FakeTelegram:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def script(self, method: str) -> Script:
        with self._lock:
            return self.scripts.setdefault(method, Script())

    def add_file(self, data: bytes) -> tuple[str, str]:
        """Make ``data`` a file a user sent: returns (file_id, file_unique_id)."""
        with self._lock:
            number = next(self._file_numbers)
            file_id, unique = f"AgAC-file-{number}", f"AQAD-unique-{number}"
            self._files[file_id] = (unique, data)
        return file_id, unique

    def push_update(self, update: dict[str, Any]) -> int:
        """Queue ``update`` for getUpdates (an ``update_id`` is given when it has none); returns its id."""
        with self._lock:
            if "update_id" not in update:
                update = {"update_id": next(self._update_ids), **update}
            self._updates.append(update)
            return int(update["update_id"])

    def pending_updates(self) -> int:
        """Updates not yet confirmed by a later getUpdates offset."""
        with self._lock:
            return len(self._updates)

    def called(self, method: str, *, ok: bool | None = None) -> list[dict[str, Any]]:
        """The fields of every ``method`` call, in order (``ok``: only answered / only failed ones)."""
        return [c.fields for c in self.requests if c.method == method and (ok is None or c.ok == ok)]

    def texts_to(self, chat_id: str | int) -> list[str]:
        """The texts of the messages sent to ``chat_id``, in order."""
        return [s.text or "" for s in self.sent_to(chat_id, "message")]

    def file_bytes(self, file_id: str) -> bytes:
        return self._files[file_id][1]

    def text_of(self, chat_id: str | int, message_id: int | str) -> str | None:
        return self._texts.get((str(chat_id), int(message_id)))

    def sent_to(self, chat_id: str | int, kind: str | None = None) -> list[Sent]:
        return [s for s in self.sent if s.chat_id == str(chat_id) and (kind is None or s.kind == kind)]

    def edits_of(self, chat_id: str | int, message_id: int | str) -> list[str]:
        return [e.text for e in self.edits if e.chat_id == str(chat_id) and e.message_id == int(message_id)]

    # --- the API ----------------------------------------------------------------------------------

    async def _method(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        self.calls.append(method)
        fields: dict[str, Any] = {}
        uploads: dict[str, bytes] = {}
        if request.content_type == "application/json":
            fields = await request.json()
        elif request.can_read_body:
            form = await request.post()
            for key, value in form.items():
                if isinstance(value, web.FileField):
                    uploads[key] = value.file.read()
                else:
                    fields[key] = _parsed(value)
        if request.match_info["token"] != self.token:
            return self._answer(method, fields, uploads, _error(401, "Unauthorized"))
        reply = self.script(method).next()
        if reply.delay_s:
            await asyncio.sleep(reply.delay_s)
        if reply.status != 200 and reply.body is not None:
            failed = web.Response(status=reply.status, body=reply.body, content_type="text/html")
            return self._answer(method, fields, uploads, failed)
        if reply.status != 200:
            failed = _error(reply.status, reply.message, reply.headers.get("Retry-After"))
            return self._answer(method, fields, uploads, failed)
        if method == "getUpdates":
            return self._answer(method, fields, uploads, await self._get_updates(fields))
        handler = {
            "getMe": self._get_me,
            "getFile": self._get_file,
            "sendMessage": self._send_message,
            "sendPhoto": self._send_photo,
            "sendDocument": self._send_document,
            "editMessageText": self._edit_text,
        }.get(method)
        response = handler(fields, uploads) if handler else self._generic(method, fields, uploads)
        return self._answer(method, fields, uploads, response)

    def _answer(
        self,
        method: str,
        fields: dict[str, Any],
        uploads: dict[str, bytes],
        response: web.Response,
    ) -> web.Response:
        call = Call(method, fields, tuple(uploads), response.status == 200, time.time())
        with self._lock:
            self.requests.append(call)
        return response

    async def _get_updates(self, fields: dict[str, Any]) -> web.Response:
        """Long polling: confirm everything below ``offset``, then answer what is queued, waiting up to
        ``timeout`` seconds for something to arrive."""
        offset = int(fields.get("offset") or 0)
        limit = int(fields.get("limit") or 100)
        deadline = time.monotonic() + float(fields.get("timeout") or 0)
        while True:
            with self._lock:
                self._updates = [u for u in self._updates if int(u["update_id"]) >= offset]
                ready = self._updates[:limit]
            if ready or time.monotonic() >= deadline:
                return _ok(ready)
            await asyncio.sleep(0.02)

    def _generic(self, method: str, fields: dict[str, Any], uploads: dict[str, bytes]) -> web.Response:
        """Every other method: a message where the Bot API answers one, else ``true``."""
        chat_id = str(fields.get("chat_id", "0"))
        if method == "sendMediaGroup":
            media = fields.get("media") or []
            messages = [self._record("media", chat_id, None, None, None, None, fields) for _ in media]
            return _ok(messages)
        if method in _MESSAGE_METHODS:
            kind = method.removeprefix("send").lower()
            message = self._record(
                kind, chat_id, None, None, fields.get("caption"), fields.get("text"), fields
            )
            return _ok(message)
        if method.startswith("edit") and "message_id" in fields:
            message_id = int(fields["message_id"])
            return _ok({"message_id": message_id, "date": int(time.time()), "chat": _chat(chat_id)})
        if method == "copyMessage":
            return _ok({"message_id": next(self._message_ids)})
        if method == "getWebhookInfo":
            return _ok({"url": "", "has_custom_certificate": False, "pending_update_count": 0})
        if method == "getMyCommands":
            return _ok([])
        if method == "createInvoiceLink":
            return _ok("https://t.me/$fake-invoice")
        return _ok(True)

    def _get_me(self, fields: dict[str, Any], uploads: dict[str, bytes]) -> web.Response:
        bot_id = int(self.token.split(":")[0])
        return _ok({"id": bot_id, "is_bot": True, "first_name": "SwapBot", "username": "swap_test_bot"})

    def _get_file(self, fields: dict[str, Any], uploads: dict[str, bytes]) -> web.Response:
        file_id = str(fields.get("file_id", ""))
        if file_id not in self._files:
            return _error(400, "Bad Request: invalid file_id")
        unique, data = self._files[file_id]
        if len(data) > GET_FILE_LIMIT:  # the public Bot API serves nothing bigger
            return _error(400, "Bad Request: file is too big")
        return _ok(
            {
                "file_id": file_id,
                "file_unique_id": unique,
                "file_size": len(data),
                "file_path": f"photos/{file_id}.jpg",
            }
        )

    async def _file(self, request: web.Request) -> web.Response:
        if request.match_info["token"] != self.token:
            return web.Response(status=401)
        reply = self.script("file").next()
        if reply.status != 200:
            return web.Response(status=reply.status, text=reply.message)
        name = request.match_info["path"].rsplit("/", 1)[-1].removesuffix(".jpg")
        if name not in self._files:
            return web.Response(status=404, text="Not Found")
        return web.Response(body=self._files[name][1], content_type="application/octet-stream")

    def _send_message(self, fields: dict[str, Any], uploads: dict[str, bytes]) -> web.Response:
        chat_id, text = str(fields["chat_id"]), str(fields["text"])
        message = self._record("message", chat_id, None, None, None, text, fields)
        self._texts[(chat_id, message["message_id"])] = text
        return _ok(message | {"text": text})

    def _send_photo(self, fields: dict[str, Any], uploads: dict[str, bytes]) -> web.Response:
        data, file_id, error = self._file_field("photo", fields, uploads)
        if error is not None:
            return error
        message = self._record(
            "photo", str(fields["chat_id"]), data, file_id, fields.get("caption"), None, fields
        )
        sizes = [{"file_id": file_id, "file_unique_id": self._files[file_id][0], "width": 512, "height": 512}]
        return _ok(message | {"photo": sizes})

    def _send_document(self, fields: dict[str, Any], uploads: dict[str, bytes]) -> web.Response:
        data, file_id, error = self._file_field("document", fields, uploads)
        if error is not None:
            return error
        message = self._record(
            "document", str(fields["chat_id"]), data, file_id, fields.get("caption"), None, fields
        )
        document = {"file_id": file_id, "file_unique_id": self._files[file_id][0], "file_name": "result.jpg"}
        return _ok(message | {"document": document})

    def _edit_text(self, fields: dict[str, Any], uploads: dict[str, bytes]) -> web.Response:
        chat_id, message_id, text = str(fields["chat_id"]), int(fields["message_id"]), str(fields["text"])
        current = self._texts.get((chat_id, message_id))
        if current is None:
            return _error(400, "Bad Request: message to edit not found")
        if current == text:
            return _error(
                400,
                "Bad Request: message is not modified: specified new message content and reply markup are "
                "exactly the same as a current content and reply markup of the message",
            )
        self._texts[(chat_id, message_id)] = text
        self.edits.append(Edit(chat_id, message_id, text))
        return _ok({"message_id": message_id, "date": int(time.time()), "chat": _chat(chat_id), "text": text})

    # --- helpers ----------------------------------------------------------------------------------

    def _file_field(
        self, name: str, fields: dict[str, Any], uploads: dict[str, bytes]
    ) -> tuple[bytes | None, str, web.Response | None]:
        value = str(fields.get(name, ""))
        upload = value.removeprefix("attach://") if value.startswith("attach://") else name
        if upload in uploads:
            data = uploads[upload]
            if not data:
                return None, "", _error(400, "Bad Request: file must be non-empty")
            file_id, _ = self.add_file(data)
            return data, file_id, None
        file_id = value
        if file_id not in self._files:
            return None, "", _error(400, "Bad Request: wrong file identifier/HTTP URL specified")
        return None, file_id, None

    def _record(
        self,
        kind: str,
        chat_id: str,
        data: bytes | None,
        file_id: str | None,
        caption: str | None,
        text: str | None,
        fields: dict[str, Any],
    ) -> dict[str, Any]:
        message_id = next(self._message_ids)
        reply_to = None
        if "reply_parameters" in fields:
            params = fields["reply_parameters"]
            reply_to = int((json.loads(params) if isinstance(params, str) else params)["message_id"])
        self.sent.append(Sent(kind, chat_id, message_id, data, file_id, caption, text, reply_to, time.time()))
        message: dict[str, Any] = {"message_id": message_id, "date": int(time.time()), "chat": _chat(chat_id)}
        if caption:
            message["caption"] = caption
        return message


# Methods whose answer is the Message sent (sendPhoto/sendDocument/sendMessage have their own handlers).
_MESSAGE_METHODS = frozenset(
    {
        "sendInvoice",
        "sendAnimation",
        "sendVideo",
        "sendAudio",
        "sendVoice",
        "sendSticker",
        "sendLocation",
        "sendContact",
        "sendPoll",
        "sendDice",
        "forwardMessage",
    }
)


def _parsed(value: str) -> Any:
    """aiogram sends nested fields (reply_markup, reply_parameters, media, prices) as JSON text."""
    if value[:1] in ("{", "["):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def _chat(chat_id: str) -> dict[str, Any]:
    return {"id": int(chat_id), "type": "private", "first_name": "Test"}


def _ok(result: Any) -> web.Response:
    return web.json_response({"ok": True, "result": result})


def _error(status: int, description: str, retry_after_s: str | None = None) -> web.Response:
    body: dict[str, Any] = {"ok": False, "error_code": status, "description": description}
    if status == 429:
        body["parameters"] = {"retry_after": int(retry_after_s or 1)}
    return web.json_response(body, status=status)
