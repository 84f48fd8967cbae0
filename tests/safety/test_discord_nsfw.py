"""Discord tells the workers when a photo comes from a channel marked NSFW: the job parameter
``channel_nsfw``, which the guard's ``SWAPBOT_DISCORD_NSFW_CHANNELS`` rule reads (tests/safety/test_jobs
shows what the worker does with it). discord.py reads the channel from the interaction's payload, as
the fake gateway delivers it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from db.session import Database
from tests.discord.conftest import DiscordHarness, close_dc, dc_postgres, discord_fake, open_dc  # noqa: F401
from tests.discord.kit import jobs_of, png
from tests.jobs.squares import SquareEngine, picture


@pytest.fixture
async def held(discord_fake: Any, dc_postgres: Database) -> AsyncIterator[DiscordHarness]:  # noqa: F811
    """A Discord bot whose in-process queue runs nothing: the submitted jobs wait to be read."""
    harness = await open_dc(dc_postgres, discord_fake, SquareEngine())
    await harness.queue.transport.stop()  # type: ignore[attr-defined]
    try:
        yield harness
    finally:
        await close_dc(harness)


def nsfw(payload: dict[str, Any], marked: bool) -> dict[str, Any]:
    payload["channel"]["nsfw"] = marked
    return payload


@pytest.mark.parametrize("marked", [True, False])
async def test_swap_and_caricature_jobs_carry_the_channel_flag(held: DiscordHarness, marked: bool) -> None:
    alice = held.person()
    target = alice.attach(png(picture(((200, 30, 30), 40, 40))))
    source = alice.attach(png(picture(((30, 30, 200), 60, 30))))
    await held.dispatch(nsfw(alice.command("swap", target=target, source=source), marked))
    await held.dispatch(nsfw(alice.command("caricature", image=target), marked))
    jobs = await jobs_of(held, alice)
    assert sorted(job.kind for job in jobs) == ["caricature", "swap"]
    for job in jobs:
        assert (job.params or {}).get("channel_nsfw") is (True if marked else None), job.kind


def test_the_flag_passes_validation_and_changes_no_other_job() -> None:
    from jobs.params import normalize

    asked = {"choose": True, "channel_nsfw": True}
    assert normalize("swap", asked, saved_face=True)["channel_nsfw"] is True
    assert "channel_nsfw" not in normalize("swap", {**asked, "channel_nsfw": False}, saved_face=True)
    with pytest.raises(ValueError, match="channel_nsfw"):
        normalize("swap", {"channel_nsfw": "yes"})
    # (tests/bot/test_swap_flows.py: the flag follows a picker's photo into the swap a choice makes)
