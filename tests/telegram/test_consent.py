"""The consent question keeps what asked it: after "I agree" the photo, the ``/swap NAME`` photo or the
album that asked goes ahead by itself, charged once, however often the button is pressed; "No" queues
and charges nothing, and a press by someone else, a forged question, a replayed press after "No" or a
press after the question expired swaps nothing. The presses carry no ``reply_to_message``: the swap
is found on our side, by the question."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import numpy as np
import pytest
from sqlalchemy import select

from bot.flows import consent as consent_flow
from bot.pending import MemoryPending, RedisPending
from bot.telegram.keyboards import ConsentAnswer
from db import faces as db_faces
from db.models import Job
from tests.jobs.squares import picture
from tests.telegram.conftest import REDIS_URL, Person, TelegramHarness
from tests.telegram.swapkit import button_data, enlarged, photos_to, png, save_face

CLASSIC = pytest.mark.engine("classic")  # swaps of saved faces need real faces and the real engine
RED, BLUE = (30, 30, 200), (200, 30, 30)


async def _jobs(tg: TelegramHarness, person: Person) -> list[Job]:
    user = await person.user()
    async with tg.db.session() as session:
        return list(await session.scalars(select(Job).where(Job.user_id == user.id)))


def _question(tg: TelegramHarness, person: Person) -> tuple[int, list[list[dict[str, Any]]]]:
    """The last consent question to ``person``: its message id and buttons."""
    calls = [c for c in tg.telegram.called("sendMessage") if str(c["chat_id"]) == str(person.id)]
    asked = [c for c in calls if str(c.get("text", "")).startswith("Before your")]
    assert asked, "no consent question"
    sent = [s for s in tg.telegram.sent_to(person.id) if (s.text or "").startswith("Before your")]
    return sent[-1].message_id, list(asked[-1]["reply_markup"]["inline_keyboard"])


@CLASSIC
async def test_a_photo_goes_ahead_after_agreeing_and_is_charged_once(
    tg: TelegramHarness, astronaut: np.ndarray, hanks: np.ndarray
) -> None:
    erin = tg.person("Erin", agreed=False)
    await save_face(tg, erin, png(astronaut), "me")  # saving a face asks nothing
    await tg.feed(erin.photo(png(enlarged(hanks))))
    await tg.idle()
    assert await _jobs(tg, erin) != [] and not photos_to(tg, erin)
    assert [j.kind for j in await _jobs(tg, erin)] == ["analyze"]  # the face it saved, nothing more

    message_id, rows = _question(tg, erin)
    agree = erin.press(button_data(rows, "I agree"), message_id)
    await tg.feed(agree, erin.press(button_data(rows, "I agree"), message_id))  # pressed twice
    await tg.idle()
    assert tg.telegram.text_of(erin.id, message_id) == tg.services.texts.text("consent_agreed_swapping", "en")
    (result,) = photos_to(tg, erin)
    assert result.caption == "Credits left: 2." and (await erin.user()).balance == 2
    assert sorted(j.kind for j in await _jobs(tg, erin)) == ["analyze", "swap"]  # the photo is one job


@CLASSIC
async def test_a_swap_command_with_a_name_goes_ahead_with_that_face(
    tg: TelegramHarness, astronaut: np.ndarray, hanks: np.ndarray
) -> None:
    finn = tg.person("Finn", agreed=False)
    await save_face(tg, finn, png(astronaut), "me")
    await save_face(tg, finn, png(enlarged(hanks)), "pal")
    await tg.feed(finn.photo(png(enlarged(hanks[:, ::-1])), caption="/swap pal"))
    await tg.idle()
    message_id, rows = _question(tg, finn)
    await tg.feed(finn.press(button_data(rows, "I agree"), message_id))
    await tg.idle()
    user = await finn.user()
    async with tg.db.session() as session:
        pal = await db_faces.get(session, user.id, "pal")
    (swap,) = [j for j in await _jobs(tg, finn) if j.kind == "swap"]
    assert swap.status == "succeeded" and (swap.inputs or {}).get("saved_face") == pal.id  # not "me"
    assert len(photos_to(tg, finn)) == 1 and user.balance == 2


async def test_no_queues_nothing_and_a_replayed_agree_after_it_swaps_nothing(tg: TelegramHarness) -> None:
    gus = tg.person("Gus", agreed=False)
    await tg.feed(*gus.album(png(picture((RED, 40, 40))), png(picture((BLUE, 50, 30)))))
    await tg.idle()
    message_id, rows = _question(tg, gus)
    await tg.feed(gus.press(button_data(rows, "No"), message_id))
    assert tg.telegram.text_of(gus.id, message_id) == tg.services.texts.text("consent_declined", "en")
    await tg.feed(gus.press(button_data(rows, "I agree"), message_id))  # the old button, pressed anyway
    await tg.idle()
    assert (await gus.user()).terms_accepted_at is not None  # his agreement stands ...
    assert await _jobs(tg, gus) == [] and (await gus.user()).balance == 3  # ... the dropped album does not
    assert not photos_to(tg, gus)


async def test_foreign_forged_and_expired_presses_swap_nothing(tg: TelegramHarness) -> None:
    clock = Clock()
    tg.services.pending = MemoryPending(clock=clock)
    hana, mallory = tg.person("Hana", agreed=False), tg.person("Mallory", agreed=False)
    await tg.feed(*hana.album(png(picture((RED, 40, 40))), png(picture((BLUE, 50, 30)))))
    first_id, first_rows = _question(tg, hana)
    await tg.feed(*hana.album(png(picture((RED, 60, 20))), png(picture((BLUE, 20, 60)))))
    second_id, second_rows = _question(tg, hana)
    assert second_id != first_id
    data = ConsentAnswer.unpack(button_data(first_rows, "I agree"))

    await tg.feed(mallory.press(data.pack(), first_id))  # hana's button
    assert tg.telegram.called("answerCallbackQuery")[-1]["text"] == "This button is not for you."
    mallory_id = (await mallory.user()).id
    forged = ConsentAnswer(user=mallory_id, version=data.version, yes=True, q=data.q)  # hana's question
    await tg.feed(mallory.press(forged.pack(), first_id))
    invented = ConsentAnswer(user=data.user, version=data.version, yes=True, q="AAAAAAAA")
    await tg.feed(hana.press(invented.pack(), first_id))  # a question never asked
    await tg.idle()
    assert await _jobs(tg, hana) == [] and await _jobs(tg, mallory) == []
    assert (await hana.user()).balance == 3 and (await mallory.user()).balance == 3

    # Hana's own questions still hold her albums: the first goes ahead ...
    await tg.feed(hana.press(button_data(first_rows, "I agree"), first_id))
    await tg.idle()
    (job,) = await _jobs(tg, hana)
    assert job.status == "succeeded" and (await hana.user()).balance == 2
    # ... the second is forgotten once its question expired.
    clock.now += consent_flow.QUESTION_LIFETIME_S + 1
    await tg.feed(hana.press(button_data(second_rows, "I agree"), second_id))
    await tg.idle()
    assert len(await _jobs(tg, hana)) == 1 and (await hana.user()).balance == 2
    assert "send the photo again" in tg.telegram.called("answerCallbackQuery")[-1]["text"]


async def test_at_scale_the_question_is_kept_in_redis_and_two_presses_at_once_swap_once(
    tg_pg: TelegramHarness,
) -> None:
    tg = tg_pg
    prefix = f"test:{uuid.uuid4().hex}:"
    tg.services.pending = RedisPending.from_url(REDIS_URL, prefix)
    try:
        ines = tg.person("Ines", agreed=False)
        await tg.feed(*ines.album(png(picture((RED, 40, 40))), png(picture((BLUE, 50, 30)))))
        message_id, rows = _question(tg, ines)
        agree = button_data(rows, "I agree")
        await asyncio.gather(*(tg.feed(ines.press(agree, message_id)) for _ in range(2)))
        await tg.drain()
        (job,) = await _jobs(tg, ines)
        assert (job.kind, job.status) == ("swap", "succeeded") and (await ines.user()).balance == 2
        assert len(photos_to(tg, ines)) == 1
    finally:
        await tg.services.pending.close()


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now
