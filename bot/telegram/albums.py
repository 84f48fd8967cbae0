"""Pairing an album's photos: Telegram sends each photo of an album as an update of its own (polling
hands them to concurrent tasks), so the first is kept until the second arrives; the pair is the swap,
and a third photo and later ones are ignored.

An album is held for ``ttl_s`` at most, paired or not (an album whose second photo never comes, or was
dropped by the throttle, is forgotten then), and at most ``max_albums`` are held at once (the oldest
go first). ``AlbumPairs`` is the one interface the router uses: ``RedisAlbumPairs`` when REDIS_URL is
set (the album's two updates may reach two bot processes), ``MemoryAlbumPairs`` otherwise.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import redis.asyncio as aioredis

from bot.flows.base import Photo

ALBUM_TTL_S = 60.0  # an album's photos arrive within seconds of each other
MAX_ALBUMS = 10_000


@dataclass(frozen=True, slots=True)
class Pair:
    """The album's first photo (its face) and second (the faces it goes into), by message id."""

    source: Photo
    target: Photo


class AlbumPairs(Protocol):
    async def pair(self, album: str, message_id: int, photo: Photo) -> Pair | None:
        """The pair once ``photo`` is the album's second; None for its first (kept) and for a third
        and later ones."""
        ...


@dataclass(slots=True)
class _Held:
    expires: float
    message_id: int
    photo: Photo | None  # None once paired: later photos of the album are ignored until it expires


class MemoryAlbumPairs:
    """In this process's memory. No lock is needed: a ``pair`` call does not await, so the asyncio
    tasks of an album's updates take their turns whole."""

    def __init__(
        self,
        ttl_s: float = ALBUM_TTL_S,
        max_albums: int = MAX_ALBUMS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.ttl_s = ttl_s
        self.max_albums = max_albums
        self.clock = clock
        self._held: dict[str, _Held] = {}  # in arrival order: the oldest first

    async def pair(self, album: str, message_id: int, photo: Photo) -> Pair | None:
        now = self.clock()
        self._expire(now)
        held = self._held.get(album)
        if held is None:
            self._held[album] = _Held(now + self.ttl_s, message_id, photo)
            while len(self._held) > self.max_albums:
                del self._held[next(iter(self._held))]
            return None
        if held.photo is None:
            return None
        first, held.photo = held.photo, None
        # The album's order is its message ids', whichever update ran first.
        return Pair(first, photo) if held.message_id < message_id else Pair(photo, first)

    def held(self) -> int:
        """How many albums are held now (expired ones are dropped first)."""
        self._expire(self.clock())
        return len(self._held)

    def _expire(self, now: float) -> None:
        # Every album gets the same lifetime, so the oldest expire first: stop at the first live one.
        while self._held:
            album, held = next(iter(self._held.items()))
            if held.expires > now:
                return
            del self._held[album]


# KEYS[1]: the album. The first photo is kept (SET NX with the album's lifetime); the second takes it
# and leaves a "paired" mark for the rest of that lifetime, so a third is ignored. One script: two
# processes' updates cannot both be first, nor both be second.
_PAIR = """
local kept = redis.call('GET', KEYS[1])
if not kept then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return false
end
if kept == 'paired' then return false end
redis.call('SET', KEYS[1], 'paired', 'KEEPTTL')
return kept
"""


class RedisAlbumPairs:
    """Shared by every bot process on one Redis; each album's key expires with it."""

    def __init__(self, client: aioredis.Redis, ttl_s: float = ALBUM_TTL_S, prefix: str = "swapbot:album:"):
        self.client = client
        self.ttl_s = ttl_s
        self.prefix = prefix
        self._pair = client.register_script(_PAIR)

    @classmethod
    def from_url(cls, url: str, ttl_s: float = ALBUM_TTL_S) -> RedisAlbumPairs:
        return cls(aioredis.from_url(url), ttl_s)

    async def pair(self, album: str, message_id: int, photo: Photo) -> Pair | None:
        mine = json.dumps({"message_id": message_id, "photo": photo.to_json()})
        kept = await self._pair(keys=[self.prefix + album], args=[mine, max(1, int(self.ttl_s * 1000))])
        if not kept:
            return None
        first = json.loads(kept)
        other = Photo.from_json(first["photo"])
        # The album's order is its message ids', whichever update ran first.
        return Pair(other, photo) if first["message_id"] < message_id else Pair(photo, other)

    async def close(self) -> None:
        await self.client.aclose()
