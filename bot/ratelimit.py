"""Per-user rate limits: a token bucket (bursts allowed, a steady rate after) and a daily cap.

``RedisRateLimiter`` shares the buckets between every bot process (REDIS_URL set); ``MemoryRateLimiter``
is the embedded default. Both answer the same ``Verdict``, so a flow can say "wait N s" politely.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal, Protocol

import redis.asyncio as aioredis


@dataclass(frozen=True, slots=True)
class Verdict:
    """``allowed``; otherwise ``reason`` ("rate": the bucket is empty, "daily": the day's cap is used)
    and ``retry_after_s``, how long until a try would be allowed."""

    allowed: bool
    reason: Literal["rate", "daily"] | None = None
    retry_after_s: float = 0.0


class RateLimiter(Protocol):
    async def hit(self, key: str, *, daily: bool = False) -> Verdict:
        """Take one token from ``key``'s bucket (e.g. ``telegram:123``); with ``daily``, also count one
        against the day's cap (work that reaches the queue: swaps, caricatures, analyses). A refused
        hit takes nothing."""
        ...

    async def close(self) -> None: ...


@dataclass(frozen=True, slots=True)
class Limits:
    """``burst`` hits at once, then ``per_minute`` a minute; ``daily_cap`` daily hits per UTC day (0: no
    cap)."""

    burst: int = 10
    per_minute: float = 30.0
    daily_cap: int = 100

    @property
    def rate_per_s(self) -> float:
        return self.per_minute / 60.0


def seconds_to_midnight(now: float) -> float:
    """Seconds from ``now`` (epoch) to the next UTC midnight, when the daily counts start again."""
    return 86_400.0 - (now % 86_400.0)


def day_of(now: float) -> str:
    return datetime.fromtimestamp(now, UTC).strftime("%Y-%m-%d")


class MemoryRateLimiter:
    """One process's buckets and day counts in dicts (the embedded mode: one bot process)."""

    def __init__(self, limits: Limits | None = None, clock: Callable[[], float] = time.time) -> None:
        self.limits = limits or Limits()
        self._clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}  # key -> (tokens, at)
        self._day = ""  # the UTC day ``_counts`` belong to
        self._counts: dict[str, int] = {}  # key -> hits counted today

    async def hit(self, key: str, *, daily: bool = False) -> Verdict:
        limits, now = self.limits, self._clock()
        if self._day != day_of(now):  # a new day: yesterday's counts and the refilled buckets go
            self._day, self._counts = day_of(now), {}
            self._forget_full_buckets(now)
        tokens, at = self._buckets.get(key, (float(limits.burst), now))
        tokens = min(float(limits.burst), tokens + (now - at) * limits.rate_per_s)
        if tokens < 1.0:
            return Verdict(False, "rate", (1.0 - tokens) / limits.rate_per_s)
        if daily and limits.daily_cap and self._counts.get(key, 0) >= limits.daily_cap:
            return Verdict(False, "daily", seconds_to_midnight(now))
        self._buckets[key] = (tokens - 1.0, now)
        if daily:
            self._counts[key] = self._counts.get(key, 0) + 1
        return Verdict(True)

    def _forget_full_buckets(self, now: float) -> None:
        """A bucket that has refilled is the same as no bucket: dropping them keeps memory bounded by
        the people seen in a day."""
        refill_s = self.limits.burst / self.limits.rate_per_s
        self._buckets = {k: (t, at) for k, (t, at) in self._buckets.items() if now - at < refill_s}

    async def close(self) -> None:
        self._buckets.clear()
        self._counts.clear()


# KEYS: bucket, day counter. ARGV: burst, rate per second, daily cap (0: none), count a daily hit (0/1),
# seconds to midnight. Answers {allowed, reason, retry_after in ms}. One script: the check and the take
# are one atomic step however many bot processes hit the same key.
_TOKEN_BUCKET = """
local burst = tonumber(ARGV[1])
local rate = tonumber(ARGV[2])
local cap = tonumber(ARGV[3])
local daily = ARGV[4] == '1'
local to_midnight = tonumber(ARGV[5])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local state = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(state[1]) or burst
local at = tonumber(state[2]) or now
tokens = math.min(burst, tokens + math.max(0, now - at) / 1000 * rate)
if tokens < 1 then
  return {0, 'rate', math.ceil((1 - tokens) / rate * 1000)}
end
if daily and cap > 0 then
  local used = tonumber(redis.call('GET', KEYS[2]) or '0')
  if used >= cap then
    return {0, 'daily', math.ceil(to_midnight * 1000)}
  end
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens - 1), 'at', tostring(now))
redis.call('PEXPIRE', KEYS[1], math.ceil(burst / rate * 1000) + 1000)
if daily then
  redis.call('INCR', KEYS[2])
  redis.call('EXPIRE', KEYS[2], math.ceil(to_midnight) + 3600)
end
return {1, '', 0}
"""


class RedisRateLimiter:
    """Buckets and day counts in Redis, shared by every bot process (REDIS_URL set)."""

    def __init__(
        self, client: aioredis.Redis, limits: Limits | None = None, prefix: str = "swapbot:rate:"
    ) -> None:
        self.client = client
        self.limits = limits or Limits()
        self.prefix = prefix
        self._script = client.register_script(_TOKEN_BUCKET)

    @classmethod
    def from_url(
        cls, url: str, limits: Limits | None = None, prefix: str = "swapbot:rate:"
    ) -> RedisRateLimiter:
        return cls(aioredis.from_url(url), limits, prefix)

    async def hit(self, key: str, *, daily: bool = False) -> Verdict:
        limits, now = self.limits, time.time()
        allowed, reason, retry_ms = await self._script(
            keys=[f"{self.prefix}bucket:{key}", f"{self.prefix}day:{day_of(now)}:{key}"],
            args=[limits.burst, limits.rate_per_s, limits.daily_cap, int(daily), seconds_to_midnight(now)],
        )
        if int(allowed):
            return Verdict(True)
        why = reason.decode() if isinstance(reason, bytes) else str(reason)
        return Verdict(False, "daily" if why == "daily" else "rate", int(retry_ms) / 1000.0)

    async def close(self) -> None:
        await self.client.aclose()
