"""Per-user rate limits: a token bucket (bursts allowed, a steady rate after) and a daily cap.

``RedisRateLimiter`` shares the buckets between every bot process (REDIS_URL set); ``MemoryRateLimiter``
is the embedded default. Both answer the same ``Verdict``, so a flow can say "wait N s" politely.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol


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
