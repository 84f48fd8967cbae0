"""A fake of Replicate's predictions API, enough for the real ``replicate`` client.

Routes: ``POST /v1/predictions`` (by version), ``POST /v1/models/{owner}/{name}/predictions`` (by
model), ``GET /v1/predictions/{id}``, ``POST /v1/predictions/{id}/cancel`` and ``GET /files/{name}``
for outputs. Creating checks the bearer token, the model or version and the input (a prompt and the
image as a data URI); each poll moves the prediction one step along ``progression``; a succeeded
prediction's output is the input image mirrored left-right, served as a file. ``create``, ``poll``
and ``files`` are scripts of replies (429, 5xx, 4xx, hangs, non-images); every request is recorded.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from types import TracebackType
from typing import Any

from aiohttp import web

from tests.fakes import Reply, Script, ServerThread
from tests.fakes.openai_server import mirror


@dataclass
class ApiRequest:
    method: str
    path: str
    headers: dict[str, str]
    body: dict[str, Any] | None


def problem(status: int, detail: str, title: str = "", headers: dict[str, str] | None = None) -> web.Response:
    """Replicate answers errors as RFC 7807 problem details."""
    body = {"title": title or detail, "detail": detail, "status": status}
    return web.json_response(body, status=status, headers=headers, content_type="application/problem+json")


def decode_data_uri(value: object) -> bytes | None:
    if not isinstance(value, str) or not value.startswith("data:") or ";base64," not in value:
        return None
    try:
        return base64.b64decode(value.split(";base64,", 1)[1], validate=True)
    except (binascii.Error, ValueError):
        return None


class FakeReplicate:
    def __init__(
        self,
        token: str = "r8_test_fake_token",
        *,
        model: str = "acme/toonify",
        version: str = "5c7d5dc6dd8bf75c1acaa8565735e7986bc5b66206b55cca93cb72c9bf15ccaa",
    ) -> None:
        self.token = token
        self.model = model
        self.version = version
        self.create = Script()
        self.poll = Script()
        self.files = Script()
        # Statuses successive polls report; the last one repeats ("processing" alone never finishes).
        self.progression: list[str] = ["processing", "succeeded"]
        self.failure = "NSFW content detected. Try running it again, or try a different prompt."
        self.output_as_list = False
        self.requests: list[ApiRequest] = []
        self.inputs: list[dict[str, Any]] = []
        self.images: list[bytes] = []
        self.created: list[str] = []
        self.canceled: list[str] = []
        self._predictions: dict[str, dict[str, Any]] = {}
        self._steps: dict[str, int] = {}
        self._outputs: dict[str, bytes] = {}
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_post("/v1/predictions", self._create_by_version)
        app.router.add_post("/v1/models/{owner}/{name}/predictions", self._create_by_model)
        app.router.add_get("/v1/predictions/{id}", self._get)
        app.router.add_post("/v1/predictions/{id}/cancel", self._cancel)
        app.router.add_get("/files/{name}", self._file)
        self.server = ServerThread(app)

    @property
    def base_url(self) -> str:
        return self.server.url

    def start(self) -> FakeReplicate:
        self.server.start()
        return self

    def stop(self) -> None:
        self.server.stop()

    def __enter__(self) -> FakeReplicate:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def requests_to(self, method: str, path: str) -> list[ApiRequest]:
        """Recorded requests to ``path``, or under it when it ends with a slash."""
        return [
            r
            for r in self.requests
            if r.method == method and (r.path == path or (path.endswith("/") and r.path.startswith(path)))
        ]

    async def _record(self, request: web.Request) -> ApiRequest:
        body = None
        if request.can_read_body:
            try:
                body = json.loads(await request.read())
            except ValueError:
                body = None
        recorded = ApiRequest(request.method, request.path, dict(request.headers), body)
        self.requests.append(recorded)
        return recorded

    def _unauthorized(self, request: web.Request) -> web.Response | None:
        if request.headers.get("Authorization") == f"Bearer {self.token}":
            return None
        return problem(401, "You did not pass a valid authentication token", "Unauthenticated")

    @staticmethod
    async def _scripted(reply: Reply) -> web.Response | None:
        if reply.delay_s:
            await asyncio.sleep(reply.delay_s)
        if reply.status != 200:
            return problem(reply.status, reply.message, headers=dict(reply.headers))
        return None

    async def _create_by_version(self, request: web.Request) -> web.StreamResponse:
        recorded = await self._record(request)
        body = recorded.body or {}
        if (denied := self._unauthorized(request)) is not None:
            return denied
        if body.get("version") != self.version:
            return problem(422, f"Invalid version or not permitted: {body.get('version')}", "Invalid version")
        return await self._create(body)

    async def _create_by_model(self, request: web.Request) -> web.StreamResponse:
        recorded = await self._record(request)
        if (denied := self._unauthorized(request)) is not None:
            return denied
        if f"{request.match_info['owner']}/{request.match_info['name']}" != self.model:
            return problem(404, "The requested resource could not be found.", "Not found")
        return await self._create(recorded.body or {})

    async def _create(self, body: dict[str, Any]) -> web.StreamResponse:
        given = body.get("input")
        if not isinstance(given, dict):
            return problem(422, "input is required", "Input validation failed")
        image = decode_data_uri(given.get("image"))
        output = mirror(image) if image is not None else None
        if not isinstance(given.get("prompt"), str) or not given["prompt"]:
            return problem(422, "- input: prompt is required", "Input validation failed")
        if output is None:
            return problem(422, "- input.image: not an image data URI", "Input validation failed")
        self.inputs.append(given)
        assert image is not None
        self.images.append(image)

        reply = self.create.next()
        if (scripted := await self._scripted(reply)) is not None:
            return scripted
        pid = uuid.uuid4().hex[:26]
        self.created.append(pid)
        self._outputs[pid] = output
        self._steps[pid] = 0
        self._predictions[pid] = {
            "id": pid,
            "model": self.model,
            "version": self.version,
            "status": "starting",
            "input": given,
            "output": None,
            "logs": "",
            "error": None,
            "metrics": {},
            "created_at": datetime.now(UTC).isoformat(),
            "started_at": None,
            "completed_at": None,
            "urls": {
                "get": f"{self.server.url}/v1/predictions/{pid}",
                "cancel": f"{self.server.url}/v1/predictions/{pid}/cancel",
            },
        }
        return web.json_response(self._predictions[pid], status=201)

    async def _get(self, request: web.Request) -> web.StreamResponse:
        await self._record(request)
        if (denied := self._unauthorized(request)) is not None:
            return denied
        pid = request.match_info["id"]
        if pid not in self._predictions:
            return problem(404, "The requested resource could not be found.", "Not found")
        if (scripted := await self._scripted(self.poll.next())) is not None:
            return scripted
        prediction = self._predictions[pid]
        if prediction["status"] not in ("succeeded", "failed", "canceled"):
            step = self._steps[pid]
            self._steps[pid] = step + 1
            self._advance(prediction, self.progression[min(step, len(self.progression) - 1)])
        return web.json_response(prediction)

    def _advance(self, prediction: dict[str, Any], status: str) -> None:
        prediction["status"] = status
        if status == "processing":
            prediction["started_at"] = prediction["started_at"] or datetime.now(UTC).isoformat()
        elif status == "succeeded":
            url = f"{self.server.url}/files/{prediction['id']}.png"
            prediction["output"] = [url] if self.output_as_list else url
        elif status == "failed":
            prediction["error"] = self.failure
        if status in ("succeeded", "failed", "canceled"):
            prediction["completed_at"] = datetime.now(UTC).isoformat()

    async def _cancel(self, request: web.Request) -> web.StreamResponse:
        await self._record(request)
        if (denied := self._unauthorized(request)) is not None:
            return denied
        pid = request.match_info["id"]
        if pid not in self._predictions:
            return problem(404, "The requested resource could not be found.", "Not found")
        self.canceled.append(pid)
        prediction = self._predictions[pid]
        if prediction["status"] not in ("succeeded", "failed", "canceled"):
            self._advance(prediction, "canceled")
        return web.json_response(prediction)

    async def _file(self, request: web.Request) -> web.StreamResponse:
        await self._record(request)
        reply = self.files.next()
        if (scripted := await self._scripted(reply)) is not None:
            return scripted
        body = reply.body if reply.body is not None else self._outputs.get(request.match_info["name"][:-4])
        if body is None:
            return web.Response(status=404, text="not found")
        return web.Response(body=body, content_type="image/png")
