"""The fake Bot API (tests/fakes/telegram_server.py) in its own process, so it does not share the
benchmark's GIL, with two extra routes for the benchmarks: ``/_bench/files`` adds files as users would
send them, ``/_bench/sent`` lists what the bot sent (chat, kind, arrival time), from ``since`` on."""

from __future__ import annotations

import multiprocessing
from dataclasses import dataclass
from typing import Any

import aiohttp
from aiohttp import web

from tests.fakes.telegram_server import FakeTelegram


def _serve(conn: Any) -> None:
    fake = FakeTelegram()

    async def sent(request: web.Request) -> web.Response:
        since = int(request.query.get("since", 0))
        kind = request.query.get("kind")
        rows = [[s.chat_id, s.kind, s.at] for s in fake.sent[since:] if kind is None or s.kind == kind]
        return web.json_response(rows)

    async def add_files(request: web.Request) -> web.Response:
        count = int(request.query["count"])
        body = await request.read()
        return web.json_response([fake.add_file(body) for _ in range(count)])

    fake.server.app.router.add_get("/_bench/sent", sent)
    fake.server.app.router.add_post("/_bench/files", add_files)
    fake.start()
    conn.send((fake.url, fake.token))
    conn.recv()  # until told to stop
    fake.stop()


@dataclass
class Fake:
    url: str
    token: str
    process: Any
    conn: Any

    @classmethod
    def start(cls) -> Fake:
        context = multiprocessing.get_context("spawn")
        ours, theirs = context.Pipe()
        process = context.Process(target=_serve, args=(theirs,), daemon=True)
        process.start()
        url, token = ours.recv()
        return cls(url, token, process, ours)

    def stop(self) -> None:
        self.conn.send("stop")
        self.process.join(10)

    async def files(self, http: aiohttp.ClientSession, data: bytes, count: int) -> list[tuple[str, str]]:
        """``count`` files with ``data`` as users would send them: (file_id, file_unique_id) each."""
        async with http.post(f"{self.url}/_bench/files?count={count}", data=data) as response:
            return [(file_id, unique) for file_id, unique in await response.json()]

    async def sent(
        self, http: aiohttp.ClientSession, *, since: int = 0, kind: str | None = None
    ) -> list[tuple[str, str, float]]:
        query = f"since={since}" + (f"&kind={kind}" if kind else "")
        async with http.get(f"{self.url}/_bench/sent?{query}") as response:
            return [(chat, sent_kind, at) for chat, sent_kind, at in await response.json()]
