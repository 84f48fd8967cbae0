"""What is refused, and how: a file that is not an image and one over the interaction's upload limit
(answered at once, ephemeral, nothing deferred, downloaded or charged), discord.py's cooldown on the
heavy commands, the shared per-user bucket and daily cap, a banned user (one answer, then silence), a
photo without a face (the job fails, refunded, and the status says what to do), and /caricature."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from bot.ratelimit import Limits, MemoryRateLimiter
from db import users
from db.session import Database
from tests.discord.conftest import UPLOAD_LIMIT, DiscordHarness, close_dc, open_dc
from tests.discord.kit import decoded, jobs_of, png
from tests.fakes.discord_server import FakeDiscord
from tests.jobs.squares import SquareEngine, picture

pytestmark = pytest.mark.engine("squares")

RED, BLUE = (30, 30, 200), (200, 30, 30)


def _photo() -> bytes:
    return png(picture((RED, 40, 40)))


async def test_a_file_that_is_not_an_image_is_refused_before_any_work(dc: DiscordHarness) -> None:
    alice = dc.person()
    notes = alice.attach(b"%PDF-1.4 not a photo", "notes.pdf", "application/pdf")
    token = await dc.dispatch(alice.command("swap", target=notes, source=alice.attach(_photo())))
    (answer,) = dc.replies(token)
    assert (answer.type, answer.ephemeral) == (4, True)  # answered at once, no defer
    assert (
        answer.content == "This is application/pdf, not a picture. Please send a photo as JPEG, PNG or WebP."
    )
    assert await jobs_of(dc, alice) == [] and "attachment" not in dc.fake.calls
    assert (await alice.user()).balance == 3


async def test_an_attachment_over_the_upload_limit_is_refused_before_any_work(dc: DiscordHarness) -> None:
    alice = dc.person()
    huge = alice.attach(_photo(), "big.png", "image/png", size=2 * UPLOAD_LIMIT)
    token = await dc.dispatch(alice.command("caricature", image=huge))
    (answer,) = dc.replies(token)
    assert answer.ephemeral and answer.content == (
        "That file is 21 MB; I take files up to 10.5 MB. Please send a smaller photo."
    )
    assert await jobs_of(dc, alice) == [] and "attachment" not in dc.fake.calls


async def test_the_heavy_commands_have_a_cooldown(dc: DiscordHarness) -> None:
    """Five /swap a minute per user (discord.py's cooldown), whatever each one asked; the same for the
    message menu."""
    alice, bob = dc.person(), dc.person("bob")
    text = alice.attach(b"words", "a.txt", "text/plain")
    for _ in range(5):
        answer = dc.last(await dc.dispatch(alice.command("swap", target=text)))
        assert "not a picture" in (answer.content or "")
    sixth = dc.last(await dc.dispatch(alice.command("swap", target=text)))
    assert sixth.ephemeral and (sixth.content or "").startswith("You are going a bit fast. Please wait ")
    # Per user: someone else is not slowed down, and light commands still answer.
    assert "not a picture" in (dc.last(await dc.dispatch(bob.command("swap", target=text))).content or "")
    assert dc.last(await dc.dispatch(alice.command("balance"))).content == "You have 3 credits."
    # The message menu has the same cooldown.
    for _ in range(5):
        assert "no picture" in (dc.last(await dc.dispatch(bob.menu("Swap my face in"))).content or "")
    menu = dc.last(await dc.dispatch(bob.menu("Swap my face in")))
    assert (menu.content or "").startswith("You are going a bit fast. Please wait ")


async def test_the_shared_bucket_and_the_daily_cap(dc_postgres: Database, discord_fake: FakeDiscord) -> None:
    limiter = MemoryRateLimiter(Limits(burst=3, per_minute=1, daily_cap=1))
    dc = await open_dc(dc_postgres, discord_fake, SquareEngine(), limiter=limiter)
    try:
        alice = dc.person()
        await dc.dispatch(alice.command("swap", target=alice.attach(_photo()), source=alice.attach(_photo())))
        capped = dc.last(await dc.dispatch(alice.command("caricature", image=alice.attach(_photo()))))
        assert capped.ephemeral
        assert (capped.content or "").startswith("You have reached today's limit. Please come back in ")
        # A refused hit takes no token: two more commands pass, the third finds the bucket empty.
        for _ in range(2):
            assert dc.last(await dc.dispatch(alice.command("balance"))).content == "You have 2 credits."
        slowed = dc.last(await dc.dispatch(alice.command("balance")))
        assert (slowed.content or "").startswith("You are going a bit fast. Please wait ")
    finally:
        await close_dc(dc)


async def test_a_banned_user_is_told_once_then_silence(dc: DiscordHarness) -> None:
    alice = dc.person()
    await dc.dispatch(alice.command("balance"))
    user = await alice.user()
    async with dc.db.transaction() as session:
        await users.update_profile(session, user.id, is_banned=True)
    told = dc.replies(await dc.dispatch(alice.command("balance")))
    assert [r.content for r in told] == ["You can no longer use this bot."] and told[0].ephemeral
    assert dc.replies(await dc.dispatch(alice.command("swap", target=alice.attach(_photo())))) == []
    assert dc.replies(await dc.dispatch(alice.command("history"))) == []


@pytest.mark.engine("classic")
async def test_a_photo_without_a_face_fails_refunded_with_a_sentence(
    dc: DiscordHarness, astronaut: np.ndarray
) -> None:
    alice = dc.person()
    ramp = np.tile(np.linspace(0, 255, 320, dtype=np.uint8), (240, 1))
    blank = png(np.dstack([ramp, ramp[::-1], ramp]))
    token = await dc.dispatch(
        alice.command("swap", target=alice.attach(blank), source=alice.attach(png(astronaut)))
    )
    await dc.idle()
    assert dc.said(token)[-1] == (
        "I could not find a face to swap in that photo. Please send a photo where the faces are clear and "
        "look at the camera. Your credits were refunded."
    )
    assert dc.followups() == [] and (await alice.user()).balance == 3


@pytest.mark.engine("classic")
async def test_caricature_draws_the_chosen_style(dc: DiscordHarness, astronaut: np.ndarray) -> None:
    alice = dc.person()
    token = await dc.dispatch(
        alice.command("caricature", image=alice.attach(png(astronaut)), style="warp", strength=2.0)
    )
    await dc.idle()
    (job,) = await jobs_of(dc, alice)
    assert (job.kind, job.status, job.params["style"], job.params["strength"]) == (
        "caricature",
        "succeeded",
        "warp",
        2.0,
    )
    (result,) = dc.followups()
    assert decoded(result.files[0]).shape == astronaut.shape and result.content == "Credits left: 2."
    assert dc.said(token)[-1] == "Done."


async def test_a_source_and_a_face_name_together_are_refused(dc: DiscordHarness) -> None:
    alice = dc.person()
    answer = dc.last(
        await dc.dispatch(
            alice.command("swap", target=alice.attach(_photo()), source=alice.attach(_photo()), face="anna")
        )
    )
    assert answer.content.startswith("Give either a source photo or a saved face name")  # type: ignore[union-attr]
    enhance = dc.last(
        await dc.dispatch(
            alice.command("swap", target=alice.attach(_photo()), source=alice.attach(_photo()), enhance=True)
        )
    )
    assert enhance.content == "Face restoration is not set up on this server. Please swap without enhance."
    assert await jobs_of(dc, alice) == []


async def test_the_same_swap_asked_twice_at_once_is_one_job_charged_once(dc: DiscordHarness) -> None:
    """A double tap: two interactions with the same photos, handled concurrently."""
    alice = dc.person()
    target, source = alice.attach(_photo()), alice.attach(png(picture((BLUE, 50, 30))))
    first, second = (
        alice.command("swap", target=target, source=source),
        alice.command("swap", target=target, source=source),
    )
    await asyncio.gather(dc.dispatch(first), dc.dispatch(second))
    await dc.idle()
    (job,) = await jobs_of(dc, alice)
    assert job.status == "succeeded" and (await alice.user()).balance == 2
    told = dc.said(first["token"]) + dc.said(second["token"])
    assert any(
        text.startswith(("I am already working on that photo", "You sent this before")) for text in told
    ), told
