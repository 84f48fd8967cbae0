"""/swap and the message menu with the real classic engine: acknowledged at once (an ephemeral defer),
the status message edited by the worker, the result a public followup of the interaction; the numbered
picker's buttons; numbers given up front; a source photo; and an expired token's result going to the
channel instead."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import discord
import numpy as np
import pytest

from tests.discord.conftest import DiscordHarness
from tests.discord.kit import button_id, buttons, decoded, enlarged, jobs_of, png, save_face

pytestmark = pytest.mark.engine("classic")


@pytest.fixture
def dc(dc_both: DiscordHarness) -> DiscordHarness:
    """Each swap test twice: jobs in the bot's process, and on ARQ with a worker."""
    return dc_both


async def test_swap_with_a_source_photo_defers_then_queues_then_answers_with_a_followup(
    dc: DiscordHarness, astronaut: np.ndarray, hanks: np.ndarray
) -> None:
    alice = dc.person()
    target = enlarged(hanks)
    token = await dc.dispatch(
        alice.command("swap", target=alice.attach(png(target)), source=alice.attach(png(astronaut)))
    )
    first = dc.replies(token)[0]
    assert (first.kind, first.type, first.ephemeral) == ("callback", 5, True)  # deferred, ephemeral
    await dc.idle()

    said = dc.said(token)
    assert said[:2] == ["Got it: looking at your photo…", "Queued: you are #1."], said
    assert said[-1] == "Done."
    (result,) = dc.followups()
    assert result.payload.get("flags") in (None, 0)  # the result itself is public
    assert result.content == "Credits left: 2."
    assert decoded(result.files[0]).shape == target.shape
    assert not np.array_equal(decoded(result.files[0]), target)
    (job,) = await jobs_of(dc, alice)
    assert (job.kind, job.status, job.deliver_token) == ("swap", "succeeded", token)
    assert job.deliver_message == str(dc.fake.originals[token])  # the status message is the original
    assert (await alice.user()).balance == 2

    # /history lists it with a button that sends the result again, free, as a followup of the press.
    history = dc.last(await dc.dispatch(alice.command("history")))
    assert (history.content or "").splitlines()[1].startswith("1. face swap: done")
    (button,) = history.payload["components"][0]["components"]
    assert dc.last(await dc.dispatch(dc.person("bob").press(button["custom_id"]))).content == (
        "This button is not for you."
    )
    pressed = await dc.dispatch(alice.press(button["custom_id"]))
    assert dc.said(pressed)[-1] == "Sent again."
    again = dc.followups()[-1]
    assert again is not result and again.files[0] == result.files[0]
    assert (await alice.user()).balance == 2 and len(await jobs_of(dc, alice)) == 1


async def test_a_group_photo_gets_the_numbered_preview_and_ephemeral_buttons_that_swap_one_face(
    dc: DiscordHarness, astronaut: np.ndarray, group_photo: np.ndarray
) -> None:
    alice = dc.person()
    await save_face(dc, alice, png(astronaut), "eileen")
    group = alice.attach(png(group_photo))
    token = await dc.dispatch(alice.command("swap", target=group))
    await dc.idle()

    # One message from the worker: the numbered preview with its buttons (no poll by the bot).
    (picker,) = dc.followups()
    assert picker.content == "Faces found: 6. Pick one by its number." and picker.files
    # Only the asker sees the numbered faces of their photo, and the buttons.
    assert picker.payload["flags"] & 64
    assert [b["label"] for b in buttons(picker)] == ["1", "2", "3", "4", "5", "6", "All"]
    assert (await alice.user()).balance == 3  # nothing charged until a face is chosen
    (asked,) = [job for job in await jobs_of(dc, alice) if job.kind == "swap"]
    assert asked.status == "needs_choice"

    # The same photo again: no new job; the answer carries the same buttons (an ephemeral preview may
    # be gone from the asker's screen).
    again = dc.last(await dc.dispatch(alice.command("swap", target=group)))
    assert (again.content or "").startswith("You sent this photo before")
    again_buttons = [b["label"] for b in again.payload["components"][0]["components"]]
    assert again_buttons == ["1", "2", "3", "4", "5"]
    assert len([job for job in await jobs_of(dc, alice) if job.kind == "swap"]) == 1

    # Someone else pressing the same button: told, and nothing runs.
    bob = dc.person("bob")
    foreign = await dc.dispatch(bob.press(button_id(picker, "2")))
    assert dc.last(foreign).content == "This button is not for you." and dc.last(foreign).ephemeral
    # An altered id (another face number under the same signature) is refused the same way.
    altered = button_id(picker, "2").replace(":2:", ":3:", 1)
    assert dc.last(await dc.dispatch(alice.press(altered))).content == "This button is not for you."

    pressed = await dc.dispatch(alice.press(button_id(picker, "2")))
    await dc.idle()
    assert dc.replies(pressed)[0].type == 5
    swaps = [job for job in await jobs_of(dc, alice) if job.kind == "swap"]
    assert [(job.status, job.params["faces"]) for job in swaps] == [
        ("needs_choice", None),
        ("succeeded", [2]),
    ]
    result = dc.followups()[-1]
    assert result.content == "Credits left: 2." and result.files
    assert (await alice.user()).balance == 2
    assert token != pressed


async def test_face_numbers_given_up_front_swap_at_once_without_a_picker(
    dc: DiscordHarness, astronaut: np.ndarray, group_photo: np.ndarray
) -> None:
    alice = dc.person()
    await save_face(dc, alice, png(astronaut), "eileen")
    await dc.dispatch(alice.command("swap", target=alice.attach(png(group_photo)), faces="1,3"))
    await dc.idle()
    swaps = [
        job
        for job in await jobs_of(dc, alice)
        if job.kind != "analyze" or job.params.get("purpose") == "swap"
    ]
    assert [(job.kind, job.params["faces"]) for job in swaps] == [("swap", [1, 3])]
    assert dc.followups()[-1].content == "Credits left: 2."
    bad = await dc.dispatch(alice.command("swap", target=alice.attach(png(group_photo)), faces="1,x"))
    assert "Write them like 1,3" in (dc.last(bad).content or "") and dc.last(bad).ephemeral


async def test_the_message_menu_swaps_the_default_face_into_the_first_picture(
    dc: DiscordHarness, astronaut: np.ndarray, hanks: np.ndarray
) -> None:
    alice = dc.person()
    await save_face(dc, alice, png(astronaut), "eileen")
    text = alice.attach(b"just words", "notes.txt", "text/plain")
    picture = alice.attach(png(enlarged(hanks)))
    token = await dc.dispatch(alice.menu("Swap my face in", text, picture))
    await dc.idle()
    swap = [job for job in await jobs_of(dc, alice) if job.kind == "swap"]
    assert len(swap) == 1 and swap[0].inputs["target"]["identity"] == f"discord:{picture.id}"
    assert dc.followups()[-1].content == "Credits left: 2."
    assert dc.said(token)[-1] == "Done."

    none = await dc.dispatch(alice.menu("Swap my face in"))
    assert (
        dc.last(none).content == "That message has no picture attached. Use this on a message with a photo."
    )


async def test_after_the_token_expires_the_result_goes_to_the_channel(
    dc: DiscordHarness, astronaut: np.ndarray, hanks: np.ndarray
) -> None:
    """An interaction from 16 minutes ago (its id says when): its token is past Discord's 15 minutes by
    the time the result is ready, so the notifier posts in the channel as the bot."""
    alice = dc.person()
    payload = alice.command(
        "swap", target=alice.attach(png(enlarged(hanks))), source=alice.attach(png(astronaut))
    )
    payload["id"] = str(discord.utils.time_snowflake(datetime.now(UTC) - timedelta(minutes=16)))
    await dc.dispatch(payload)
    await dc.idle()
    assert dc.followups() == []
    (posted,) = dc.fake.posted_to(alice.channel_id)
    assert posted.via == "channel" and posted.content == "Credits left: 2." and posted.files


async def test_no_saved_face_is_an_ephemeral_sentence_naming_the_discord_command(
    dc: DiscordHarness, hanks: np.ndarray
) -> None:
    alice = dc.person()
    token = await dc.dispatch(alice.command("swap", target=alice.attach(png(enlarged(hanks)))))
    defer, answer = dc.replies(token)
    assert defer.ephemeral and answer.kind == "edit"
    assert answer.content == (
        "You have no saved face yet. Save one with /face save and a clear photo of your face, then use /swap."
    )
    assert await jobs_of(dc, alice) == []
