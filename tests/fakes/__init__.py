"""Fakes of external services: aiohttp apps served on a free localhost port from a background thread.

A thread with its own event loop keeps the fake independent of the test's loop, so synchronous
clients (openai, replicate, requests-style SDKs) and async ones (aiogram, discord.py) can both talk
to it, and a handler that sleeps never blocks the test.
"""

from __future__ import annotations

import asyncio
import socket
import threading
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import TracebackType

from aiohttp import web


class ServerThread:
    """Serve ``app`` on 127.0.0.1 at a free port until ``stop()``; ``url`` is its base URL."""

    def __init__(
        self, app: web.Application, *, host: str = "127.0.0.1", shutdown_timeout: float = 0.25
    ) -> None:
        self.app = app
        self.host = host
        self.port = 0
        # Handlers still running at stop (a scripted hang) are cancelled after this many seconds.
        self._shutdown_timeout = shutdown_timeout
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="fake-server", daemon=True)
        self._runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        if not self.port:
            raise RuntimeError("server not started")
        return f"http://{self.host}:{self.port}"

    def start(self) -> ServerThread:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(timeout=10)
        return self

    async def _start(self) -> None:
        # Binding the socket ourselves gives the port without a race against other processes.
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind((self.host, 0))
        self._runner = web.AppRunner(self.app, shutdown_timeout=self._shutdown_timeout, access_log=None)
        await self._runner.setup()
        await web.SockSite(self._runner, sock).start()
        self.port = sock.getsockname()[1]

    def stop(self) -> None:
        if not self._thread.is_alive():
            return
        asyncio.run_coroutine_threadsafe(self._stop(), self._loop).result(timeout=self._shutdown_timeout + 10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()

    async def _stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
        # Handlers whose client went away (a hang past a timeout) may still sleep: end them here.
        leftovers = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
        for task in leftovers:
            task.cancel()
        await asyncio.gather(*leftovers, return_exceptions=True)

    def __enter__(self) -> ServerThread:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


@dataclass(frozen=True)
class Reply:
    """One scripted answer of a fake route.

    ``status`` other than 200 answers an error carrying ``message`` (and ``code``); ``delay_s`` sleeps
    before answering (a hang, when longer than the client's timeout); ``headers`` are added (Retry-After);
    ``body`` replaces the payload of a normal answer (a non-image where an image belongs).
    """

    status: int = 200
    message: str = ""
    code: str | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    delay_s: float = 0.0
    body: bytes | None = None


OK = Reply()


def rate_limited(retry_after: str = "1", message: str = "Rate limit reached, slow down") -> Reply:
    return Reply(429, message, "rate_limit_exceeded", {"Retry-After": retry_after})


def server_error(status: int = 500, message: str = "The server had an error") -> Reply:
    return Reply(status, message, "server_error")


def error(status: int, message: str, code: str | None = None) -> Reply:
    return Reply(status, message, code)


def hang(seconds: float) -> Reply:
    return Reply(delay_s=seconds)


def garbage(body: bytes = b"<html>definitely not an image</html>") -> Reply:
    return Reply(body=body)


class Script:
    """A thread-safe queue of replies for one route; once it runs dry the route answers normally (OK)."""

    def __init__(self) -> None:
        self._replies: deque[Reply] = deque()
        self._lock = threading.Lock()

    def push(self, *replies: Reply) -> None:
        with self._lock:
            self._replies.extend(replies)

    def next(self) -> Reply:
        with self._lock:
            return self._replies.popleft() if self._replies else OK
