"""Albums through the Telegram bot (the square engine): the first two photos of an album are one swap,
the first one's face onto the second's, whichever update arrives first; a third photo is ignored; and
what the bot holds for albums expires and stays bounded, an album whose second photo never came
included, while later albums still pair correctly."""

from __future__ import annotations

import asyncio
import uuid

import numpy as np

from bot.flows.swap import Photo
from bot.telegram.albums import ALBUM_TTL_S, MAX_ALBUMS, MemoryAlbumPairs, RedisAlbumPairs
from engine.imageio import decode_image
from jobs.request import InputRef
from tests.jobs.squares import picture
from tests.telegram.conftest import REDIS_URL, Person, TelegramHarness
from tests.telegram.swapkit import photos_to, png

RED, BLUE, GREEN = (30, 30, 200), (200, 30, 30), (30, 200, 30)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _pairs(tg: TelegramHarness, max_albums: int = MAX_ALBUMS) -> tuple[MemoryAlbumPairs, Clock]:
    clock = Clock()
    pairs = MemoryAlbumPairs(max_albums=max_albums, clock=clock)
    tg.dp["albums"] = pairs
    return pairs, clock


def _result_colour(tg: TelegramHarness, person: Person, x: int, y: int) -> np.ndarray:
    data = photos_to(tg, person)[-1].data
    assert data is not None
    return decode_image(data)[y + 12, x + 12].astype(int)


async def test_three_photos_swap_the_first_two_and_leave_nothing_behind(tg: TelegramHarness) -> None:
    pairs, clock = _pairs(tg)
    alice = tg.person()
    first, second, third = alice.album(
        png(picture((RED, 40, 40))), png(picture((BLUE, 50, 30))), png(picture((GREEN, 20, 20)))
    )
    await tg.feed(second, first, third)  # the second's update ran first: the order is the message ids'
    await tg.idle()
    assert len(photos_to(tg, alice)) == 1 and (await alice.user()).balance == 2
    # The first photo's face (red) put into the second photo's (at 50, 30).
    assert np.abs(_result_colour(tg, alice, 50, 30) - np.array(RED)).max() < 40
    assert pairs.held() == 1  # the album is remembered as paired, so its third photo did nothing

    clock.now += ALBUM_TTL_S + 1
    assert pairs.held() == 0


async def test_an_album_whose_second_photo_never_came_is_forgotten(tg: TelegramHarness) -> None:
    pairs, clock = _pairs(tg)
    bob = tg.person("Bob")
    lonely, _ = bob.album(png(picture((RED, 40, 40))), png(picture((BLUE, 50, 30))))
    await tg.feed(lonely)  # the second was dropped on the way (say, by the throttle)
    await tg.idle()
    assert pairs.held() == 1 and not photos_to(tg, bob) and (await bob.user()).balance == 3

    clock.now += ALBUM_TTL_S + 1
    assert pairs.held() == 0
    # Later albums pair as ever: the lonely photo is not taken for anyone's first.
    await tg.feed(*bob.album(png(picture((GREEN, 20, 20))), png(picture((BLUE, 60, 40)))))
    await tg.idle()
    assert len(photos_to(tg, bob)) == 1 and (await bob.user()).balance == 2
    assert np.abs(_result_colour(tg, bob, 60, 40) - np.array(GREEN)).max() < 40


async def test_the_albums_held_are_bounded(tg: TelegramHarness) -> None:
    pairs, _ = _pairs(tg, 3)
    carol = tg.person("Carol")
    for n in range(5):  # five albums whose second photo never comes
        first, _ = carol.album(png(picture((RED, 10 + n, 40))), png(picture((BLUE, 50, 30))))
        await tg.feed(first)
    assert pairs.held() == 3
    await tg.idle()
    assert not photos_to(tg, carol)


async def test_an_album_split_over_two_processes_pairs_once_through_redis(tg: TelegramHarness) -> None:
    """Two bot processes each get one of the album's updates (two stores on one Redis, each with its
    own connection): exactly one of them pairs, in message-id order, and a third photo is ignored."""
    album = f"42:{uuid.uuid4().hex}"
    one, two = (RedisAlbumPairs.from_url(REDIS_URL, ttl_s=5) for _ in range(2))
    try:
        red, blue, green = (Photo(InputRef.telegram(f"file-{n}", f"u-{n}")) for n in "rbg")
        outcomes = await asyncio.gather(one.pair(album, 11, blue), two.pair(album, 10, red))
        pairs = [pair for pair in outcomes if pair is not None]
        assert len(pairs) == 1
        assert (pairs[0].source.ref, pairs[0].target.ref) == (red.ref, blue.ref)  # id 10 first
        assert await one.pair(album, 12, green) is None and await two.pair(album, 13, green) is None
    finally:
        await one.close()
        await two.close()

    tg.dp["albums"] = RedisAlbumPairs.from_url(REDIS_URL)  # and through the bot's album handler
    try:
        bob = tg.person("Bob")
        first, second = bob.album(png(picture((RED, 40, 40))), png(picture((BLUE, 50, 30))))
        await tg.feed(second, first)
        await tg.idle()
        assert len(photos_to(tg, bob)) == 1 and (await bob.user()).balance == 2
        assert np.abs(_result_colour(tg, bob, 50, 30) - np.array(RED)).max() < 40
    finally:
        await tg.dp["albums"].close()
