"""Things kept on our side for a while until a person answers a question about them (the swap that
asked for consent, bot/flows/consent.py): small JSON values under a key, each with its own lifetime.
``take`` hands a value out once, so a button pressed twice acts once. ``RedisPending`` is shared by
every bot process; ``MemoryPending``, bounded, is the embedded default."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any, Protocol

import redis.asyncio as aioredis

MAX_HELD = 10_000  # in memory: the oldest go first beyond this


class Pending(Protocol):
    async def put(self, key: str, value: dict[str, Any], ttl_s: float) -> None:
        """Keep ``value`` (JSON) under ``key`` for ``ttl_s`` seconds."""
        ...

    async def take(self, key: str) -> dict[str, Any] | None:
        """The value under ``key``, removed: None when there is none (never put, expired or taken)."""
        ...

    async def close(self) -> None: ...


class MemoryPending:
    def __init__(self, max_held: int = MAX_HELD, clock: Callable[[], float] = time.monotonic) -> None:
        self.max_held = max_held
        self.clock = clock
        self._held: dict[str, tuple[float, str]] = {}  # key -> (expiry, JSON), in insertion order

    async def put(self, key: str, value: dict[str, Any], ttl_s: float) -> None:
        now = self.clock()
        if len(self._held) >= self.max_held:  # full: the expired go first, then the oldest
            self._held = {k: held for k, held in self._held.items() if held[0] > now}
        self._held.pop(key, None)
        self._held[key] = (now + ttl_s, json.dumps(value))
        while len(self._held) > self.max_held:
            del self._held[next(iter(self._held))]

    async def take(self, key: str) -> dict[str, Any] | None:
        held = self._held.pop(key, None)
        if held is None or held[0] <= self.clock():
            return None
        value: dict[str, Any] = json.loads(held[1])
        return value

    def held(self) -> int:
        """How many values are held and not expired."""
        now = self.clock()
        return sum(1 for expiry, _ in self._held.values() if expiry > now)

    async def close(self) -> None:
        self._held.clear()


class RedisPending:
    def __init__(self, client: aioredis.Redis, prefix: str = "swapbot:pending:") -> None:
        self.client = client
        self.prefix = prefix

    @classmethod
    def from_url(cls, url: str, prefix: str = "swapbot:pending:") -> RedisPending:
        return cls(aioredis.from_url(url), prefix)

    async def put(self, key: str, value: dict[str, Any], ttl_s: float) -> None:
        await self.client.set(self.prefix + key, json.dumps(value), px=max(1, int(ttl_s * 1000)))

    async def take(self, key: str) -> dict[str, Any] | None:
        raw = await self.client.getdel(self.prefix + key)  # one command: two presses, one taker
        if raw is None:
            return None
        value: dict[str, Any] = json.loads(raw)
        return value

    async def close(self) -> None:
        await self.client.aclose()
