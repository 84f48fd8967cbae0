"""A fake of OpenAI's image edits endpoint, enough for the real ``openai`` client.

``POST /v1/images/edits`` (multipart) checks what the client sends the way the service does (bearer
key, model, prompt, an image part with an image content type) and answers with the input image
mirrored left-right, so a test can tell its own picture came back; base64 by default, or as a URL
served from ``GET /files/{name}`` when ``answer_with_url`` is set. ``edits`` and ``files`` are
scripts of replies (429, 5xx, 4xx, hangs, non-images); every request is recorded.
"""

from __future__ import annotations

import asyncio
import base64
import time
import uuid
from dataclasses import dataclass
from email.message import EmailMessage
from email.parser import BytesParser
from email.policy import HTTP
from types import TracebackType

import cv2
import numpy as np
from aiohttp import web

from tests.fakes import Reply, Script, ServerThread

IMAGE_TYPES = ("image/png", "image/jpeg", "image/webp")


@dataclass
class EditRequest:
    headers: dict[str, str]
    fields: dict[str, str]
    image: bytes | None
    image_filename: str | None
    image_content_type: str | None


def mirror(data: bytes) -> bytes | None:
    """The fake's "edit": the image flipped left-right, PNG; None when ``data`` is no image."""
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    if image is None:
        return None
    ok, buf = cv2.imencode(".png", cv2.flip(image, 1))
    return buf.tobytes() if ok else None


def error_response(
    status: int, message: str, code: str | None = None, headers: dict[str, str] | None = None
) -> web.Response:
    kind = "invalid_request_error" if status < 500 else "server_error"
    body = {"error": {"message": message, "type": kind, "param": None, "code": code}}
    return web.json_response(body, status=status, headers=headers)


class FakeOpenAI:
    def __init__(self, api_key: str = "sk-test-fake-key") -> None:
        self.api_key = api_key
        self.edits = Script()
        self.files = Script()
        self.answer_with_url = False
        self.requests: list[EditRequest] = []
        self.downloads: list[str] = []
        self._files: dict[str, bytes] = {}
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_post("/v1/images/edits", self._edit)
        app.router.add_get("/files/{name}", self._file)
        self.server = ServerThread(app)

    @property
    def base_url(self) -> str:
        return f"{self.server.url}/v1"

    def start(self) -> FakeOpenAI:
        self.server.start()
        return self

    def stop(self) -> None:
        self.server.stop()

    def __enter__(self) -> FakeOpenAI:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    async def _edit(self, request: web.Request) -> web.StreamResponse:
        recorded = EditRequest(dict(request.headers), {}, None, None, None)
        # The stdlib's MIME parser, not aiohttp's multipart reader: the latter warns (deprecated
        # internals) depending on how TCP happens to split the upload.
        head = f"Content-Type: {request.headers.get('Content-Type', '')}\r\n\r\n".encode()
        message = BytesParser(policy=HTTP).parsebytes(head + await request.read())
        for part in message.iter_parts() if isinstance(message, EmailMessage) else ():
            name = part.get_param("name", header="content-disposition")
            payload = part.get_payload(decode=True)
            if not isinstance(name, str) or not isinstance(payload, bytes):
                continue
            if name in ("image", "image[]") and part.get_filename():
                recorded.image = payload
                recorded.image_filename = part.get_filename()
                recorded.image_content_type = part.get_content_type()
            else:
                recorded.fields[name] = payload.decode()
        self.requests.append(recorded)

        if request.headers.get("Authorization") != f"Bearer {self.api_key}":
            return error_response(401, "Incorrect API key provided.", "invalid_api_key")
        problem = self._invalid(recorded)
        if problem:
            return error_response(400, problem)

        reply = self.edits.next()
        if reply.delay_s:
            await asyncio.sleep(reply.delay_s)
        if reply.status != 200:
            return error_response(reply.status, reply.message, reply.code, dict(reply.headers))
        assert recorded.image is not None
        output = reply.body if reply.body is not None else mirror(recorded.image)
        assert output is not None
        if self.answer_with_url:
            name = f"{uuid.uuid4().hex}.png"
            self._files[name] = output
            item = {"url": f"{self.server.url}/files/{name}"}
        else:
            item = {"b64_json": base64.b64encode(output).decode("ascii")}
        return web.json_response({"created": int(time.time()), "data": [item]}, headers=dict(reply.headers))

    @staticmethod
    def _invalid(recorded: EditRequest) -> str | None:
        for name in ("model", "prompt"):
            if not recorded.fields.get(name):
                return f"Missing required parameter: '{name}'."
        if recorded.image is None:
            return "Missing required parameter: 'image'."
        if recorded.image_content_type not in IMAGE_TYPES:
            return (
                f"Invalid file 'image': unsupported mimetype ('{recorded.image_content_type}'). "
                "Supported file formats are 'image/jpeg', 'image/png', and 'image/webp'."
            )
        if mirror(recorded.image) is None:
            return "Invalid image file or mode for image 1, please check your image file."
        return None

    async def _file(self, request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        self.downloads.append(name)
        reply: Reply = self.files.next()
        if reply.delay_s:
            await asyncio.sleep(reply.delay_s)
        if reply.status != 200:
            return web.Response(status=reply.status, text=reply.message, headers=dict(reply.headers))
        if name not in self._files:
            return web.Response(status=404, text="not found")
        return web.Response(body=self._files[name], content_type="image/png")
