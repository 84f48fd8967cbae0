"""Remember that something happened, once, for a while: a duplicate update is handled once, a banned
user is told once. ``RedisOnce`` (SET NX with a TTL) is shared by every bot process; ``MemoryOnce``
is the embedded default."""

from __future__ import annotations

import time
from typing import Protocol

import redis.asyncio as aioredis


class Once(Protocol):
    async def first(self, key: str, ttl_s: float) -> bool:
        """True the first time ``key`` is seen within ``ttl_s`` seconds, False on every later call."""
        ...

    async def forget(self, key: str) -> None:
        """The next ``first(key)`` is True again."""
        ...

    async def close(self) -> None: ...


class MemoryOnce:
    """Keys with their expiry in a dict; expired keys are dropped as new ones arrive (bounded by what
    one process sees within a TTL)."""

    def __init__(self) -> None:
        self._expiry: dict[str, float] = {}
        self._next_sweep = 0.0

    async def first(self, key: str, ttl_s: float) -> bool:
        now = time.monotonic()
        if now >= self._next_sweep:
            self._expiry = {k: t for k, t in self._expiry.items() if t > now}
            self._next_sweep = now + 60.0
        if self._expiry.get(key, 0.0) > now:
            return False
        self._expiry[key] = now + ttl_s
        return True

    async def forget(self, key: str) -> None:
        self._expiry.pop(key, None)

    async def close(self) -> None:
        self._expiry.clear()


class RedisOnce:
    def __init__(self, client: aioredis.Redis, prefix: str = "swapbot:once:") -> None:
        self.client = client
        self.prefix = prefix

    @classmethod
    def from_url(cls, url: str, prefix: str = "swapbot:once:") -> RedisOnce:
        return cls(aioredis.from_url(url), prefix)

    async def first(self, key: str, ttl_s: float) -> bool:
        return bool(await self.client.set(self.prefix + key, b"1", nx=True, px=max(1, int(ttl_s * 1000))))

    async def forget(self, key: str) -> None:
        await self.client.delete(self.prefix + key)

    async def close(self) -> None:
        await self.client.aclose()
