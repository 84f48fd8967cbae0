"""Consent and reports through the Telegram bot (the square engine: the rules, not the pictures).

The first swap asks for agreement to the terms and submits and charges nothing until the button is
pressed; "No" swaps nothing; agreeing records the time and the terms version, after which swaps go
straight through; a new terms version asks again (and a button for the old one records nothing).
``/report`` as a reply to a result (in a group) records a report once per reporter and tells the
admins; the admins' /reports buttons are signed (a forged or replayed press by anyone else changes
nothing), and the owner is banned at ``report_ban_threshold`` confirmed reports and not before."""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import random
import time
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import numpy as np
import pytest
from sqlalchemy import select

from bot.flows import reports as reports_flow
from bot.services import BotConfig
from db import jobs as db_jobs
from db.base import utcnow
from db.models import Job, Report
from db.session import Database
from jobs.metrics import REGISTRY
from tests.fakes.telegram_server import FakeTelegram
from tests.jobs.squares import SquareEngine, picture
from tests.telegram.conftest import SECRET, Person, TelegramHarness, close_tg, engine_for, open_tg
from tests.telegram.swapkit import button_data, buttons, enlarged, photos_to, png, save_face

ADMIN_ID = random.randint(10**9, 2 * 10**9)
RED, BLUE = (30, 30, 200), (200, 30, 30)
CLASSIC = pytest.mark.engine("classic")  # reports need real results: real faces, the real engine
GROUP = {"id": -(10**12) - random.randint(1, 10**6), "type": "group", "title": "friends"}


@pytest.fixture
async def tg(
    request: pytest.FixtureRequest, telegram: FakeTelegram, tg_sqlite: Database
) -> AsyncIterator[TelegramHarness]:
    config = BotConfig(
        secret_key=SECRET, admins=frozenset({("telegram", str(ADMIN_ID))}), report_ban_threshold=2
    )
    harness = await open_tg(tg_sqlite, telegram, engine_for(request), config=config)
    try:
        yield harness
    finally:
        await close_tg(harness)


def _album(person: Person) -> list[dict[str, Any]]:
    return person_album(person, (RED, 40, 40), (BLUE, 50, 30))


def person_album(person: Person, *squares: tuple[tuple[int, int, int], int, int]) -> list[dict[str, Any]]:
    return person.album(*(png(picture(square)) for square in squares))


async def _jobs(tg: TelegramHarness, person: Person) -> list[Job]:
    user = await person.user()
    async with tg.db.session() as session:
        return list(await session.scalars(select(Job).where(Job.user_id == user.id)))


def _question(tg: TelegramHarness, person: Person) -> tuple[int, list[list[dict[str, Any]]]]:
    """The last consent question to ``person``: its message id and buttons."""
    (sent,) = [s for s in tg.telegram.sent_to(person.id) if s.text and s.text.startswith("Before your")][-1:]
    return sent.message_id, buttons(tg, "sendMessage")


async def test_the_first_swap_asks_and_nothing_is_submitted_until_agreed(tg: TelegramHarness) -> None:
    alice, mallory = tg.person(agreed=False), tg.person("Mallory")
    await tg.feed(alice.text("/start"), mallory.text("/start"))
    await tg.feed(*_album(alice))
    await tg.feed(alice.photo(png(picture((RED, 40, 40)))))
    await tg.idle()
    questions = [s for s in tg.telegram.sent_to(alice.id) if s.text and s.text.startswith("Before your")]
    assert len(questions) == 2  # the album (once for its two photos) and the photo
    assert "only the faces of people who agreed" in (questions[0].text or "")
    assert await _jobs(tg, alice) == [] and (await alice.user()).balance == 3
    assert not photos_to(tg, alice)

    message_id, rows = _question(tg, alice)
    # Someone else's press of alice's button records nothing for her.
    await tg.feed(mallory.press(button_data(rows, "I agree"), message_id))
    assert tg.telegram.called("answerCallbackQuery")[-1]["text"] == "This button is not for you."
    assert (await alice.user()).terms_accepted_at is None

    # "No": nothing swapped or charged, and the next swap asks again.
    await tg.feed(alice.press(button_data(rows, "No"), message_id))
    assert tg.telegram.text_of(alice.id, message_id) == tg.services.texts.text("consent_declined", "en")
    assert (await alice.user()).terms_version is None
    await tg.feed(*_album(alice))
    await tg.idle()
    assert await _jobs(tg, alice) == [] and (await alice.user()).balance == 3

    before = utcnow()
    message_id, rows = _question(tg, alice)
    await tg.feed(alice.press(button_data(rows, "I agree"), message_id))
    user = await alice.user()
    assert user.terms_version == "1" and user.terms_accepted_at is not None
    assert before - timedelta(seconds=1) <= user.terms_accepted_at <= utcnow()
    # The album that asked goes ahead by itself: nobody is told to send it again.
    assert tg.telegram.text_of(alice.id, message_id) == tg.services.texts.text(
        "consent_agreed_swapping", "en"
    )
    await tg.idle()
    (job,) = await _jobs(tg, alice)
    assert (job.kind, job.status) == ("swap", "succeeded") and (await alice.user()).balance == 2
    assert len(photos_to(tg, alice)) == 1

    asked = len(tg.telegram.sent_to(alice.id))
    await tg.feed(*person_album(alice, (RED, 60, 20), (BLUE, 20, 60)))
    await tg.idle()
    assert len(await _jobs(tg, alice)) == 2 and (await alice.user()).balance == 1
    assert not any((s.text or "").startswith("Before your") for s in tg.telegram.sent_to(alice.id)[asked:])


async def test_new_terms_ask_again_and_an_old_button_records_nothing(tg: TelegramHarness) -> None:
    bob = tg.person("Bob")  # agreed to version 1 (the harness's default)
    await tg.feed(*_album(bob))
    await tg.idle()
    assert len(await _jobs(tg, bob)) == 1

    tg.services.config = dataclasses.replace(tg.services.config, terms_version="2")
    await tg.feed(bob.photo(png(picture((RED, 60, 60)))))
    await tg.idle()
    assert len(await _jobs(tg, bob)) == 1 and (await bob.user()).balance == 2
    message_id, rows = _question(tg, bob)
    new_terms = button_data(rows, "I agree")
    old_terms = new_terms.replace(":2:", ":1:")
    assert old_terms != new_terms

    await tg.feed(bob.press(old_terms, message_id))  # a question from before the change
    assert (await bob.user()).terms_version == "1"
    await tg.feed(bob.press(new_terms, message_id))
    assert (await bob.user()).terms_version == "2"


# --- reports --------------------------------------------------------------------------------------


# Message ids are per chat: everyone's messages in the group share one sequence (the bot's dedupe
# knows a message by its chat and id).
_group_ids = itertools.count(10_000)


def _in_group(person: Person, **content: Any) -> dict[str, Any]:
    return person.message(chat=GROUP, message_id=next(_group_ids), **content)


async def _result_in_group(tg: TelegramHarness, owner: Person, target: np.ndarray) -> int:
    """``owner`` swaps their saved face into ``target`` in the group (``/swap`` as the photo's
    caption); the result's message id."""
    before = len(tg.telegram.sent_to(GROUP["id"], "photo"))
    photo = owner.photo(png(target), caption="/swap")
    photo["message"].update(chat=GROUP, message_id=next(_group_ids))
    await tg.feed(photo)
    await tg.idle()
    sent = tg.telegram.sent_to(GROUP["id"], "photo")[before:]
    assert len(sent) == 1, [s.kind for s in tg.telegram.sent_to(GROUP["id"])]
    return sent[0].message_id


async def _report(tg: TelegramHarness, reporter: Person, message_id: int, reason: str = "") -> str:
    replied = {"message_id": message_id, "date": int(time.time()), "chat": GROUP}
    before = len(tg.telegram.sent_to(GROUP["id"]))
    await tg.feed(
        _in_group(
            reporter, text=f"/report {reason}".strip(), entities=[_command(7)], reply_to_message=replied
        )
    )
    (answer,) = tg.telegram.sent_to(GROUP["id"])[before:]
    return answer.text or ""


def _command(length: int) -> dict[str, Any]:
    return {"type": "bot_command", "offset": 0, "length": length}


def _reported() -> float:
    return REGISTRY.get_sample_value("swapbot_reports_total", {"platform": "telegram"}) or 0.0


@CLASSIC
async def test_reports_reach_the_admins_once_and_confirmed_ones_ban_at_the_threshold(
    tg: TelegramHarness, astronaut: np.ndarray, hanks: np.ndarray
) -> None:
    owner, bob, carol = tg.person("Owner"), tg.person("Bob"), tg.person("Carol")
    admin = Person(tg, ADMIN_ID, "Root")
    await tg.feed(admin.text("/start"), bob.text("/start"), carol.text("/start"))
    await save_face(tg, owner, png(astronaut), "me")
    first = await _result_in_group(tg, owner, enlarged(hanks))
    second = await _result_in_group(tg, owner, enlarged(hanks[:, ::-1]))

    reported_before = _reported()
    assert await _report(tg, bob, first, "not my face") == tg.services.texts.text("report_done", "en")
    assert await _report(tg, bob, first) == "You have already reported this result."
    assert await _report(tg, carol, first) == tg.services.texts.text("report_done", "en")
    assert await _report(tg, bob, second, "again") == tg.services.texts.text("report_done", "en")
    assert _reported() == reported_before + 3  # the refused duplicate is not counted
    notices = [text for text in admin.texts() if text.startswith("New report #")]
    assert len(notices) == 3 and "Reason: not my face." in notices[0]
    owner_id = (await owner.user()).id
    assert all(f"of @{owner_id}" in text for text in notices)

    # A reply to something that is not a result (the owner's own photo message) reports nothing.
    assert await _report(tg, bob, 1) == tg.services.texts.text("report_not_a_result", "en")
    async with tg.db.session() as session:
        reports = list(await session.scalars(select(Report).where(Report.owner_id == owner_id)))
    assert len(reports) == 3 and {r.status for r in reports} == {"open"}

    await tg.feed(admin.text("/reports"))
    listed = [s for s in tg.telegram.sent_to(ADMIN_ID) if (s.text or "").startswith("Report #")]
    assert len(listed) >= 3
    calls = [c for c in tg.telegram.called("sendMessage") if str(c["chat_id"]) == str(ADMIN_ID)]
    keyboards = {
        int(c["text"].split("#")[1].split(":")[0]): c["reply_markup"]["inline_keyboard"]
        for c in calls
        if c["text"].startswith("Report #")
    }
    by_job = sorted(reports, key=lambda r: r.id)

    def press(report: Report, action: str, who: Person = admin) -> dict[str, Any]:
        rows = keyboards[report.id]
        label = {"confirm": "Confirm", "dismiss": "Dismiss", "ban": "Ban"}[action]
        return who.press(button_data(rows, label), 1)

    await tg.feed(press(by_job[0], "confirm"))
    assert not (await owner.user()).is_banned  # one confirmed of two
    await tg.feed(press(by_job[0], "confirm"))  # pressed twice: decided once
    assert "already decided" in tg.telegram.called("editMessageText")[-1]["text"]
    await tg.feed(press(by_job[1], "dismiss"))
    assert not (await owner.user()).is_banned  # a dismissed report does not count
    await tg.feed(press(by_job[2], "confirm"))
    assert (await owner.user()).is_banned
    assert "is banned" in tg.telegram.called("editMessageText")[-1]["text"]


@CLASSIC
async def test_non_admins_cannot_list_or_decide_reports(
    tg: TelegramHarness, astronaut: np.ndarray, hanks: np.ndarray
) -> None:
    owner, mallory = tg.person("Owner"), tg.person("Mallory")
    admin = Person(tg, ADMIN_ID, "Root")
    await tg.feed(admin.text("/start"), mallory.text("/start"))
    await save_face(tg, owner, png(astronaut), "me")
    result = await _result_in_group(tg, owner, enlarged(hanks))
    await _report(tg, mallory, result)

    before = len(mallory.texts())
    await tg.feed(mallory.text("/reports"))
    assert not any(text.startswith("Report #") for text in mallory.texts()[before:])

    await tg.feed(admin.text("/reports"))
    call = [c for c in tg.telegram.called("sendMessage") if str(c["chat_id"]) == str(ADMIN_ID)][-1]
    rows = call["reply_markup"]["inline_keyboard"]
    ban = button_data(rows, "Ban")
    forged = [
        ban,  # the admin's own button, replayed by mallory: signed for the admin, not for her
        ban.rsplit(":", 1)[0] + ":AAAAAAAAAAA",  # a made-up signature
        button_data(rows, "Dismiss").replace("dismiss", "ban"),  # another action under a dismiss's signature
    ]
    for data in forged:
        await tg.feed(mallory.press(data, 1))
        assert (
            tg.telegram.called("answerCallbackQuery")[-1]["text"]
            == "This command is for the bot's admins only."
        )
    # The admin's altered button is refused too.
    await tg.feed(admin.press(forged[2], 1))
    async with tg.db.session() as session:
        (report,) = list(
            await session.scalars(select(Report).where(Report.reporter_id == (await mallory.user()).id))
        )
    assert report.status == "open" and not (await owner.user()).is_banned


@CLASSIC
async def test_stats_count_blocked_jobs_and_reports(
    tg: TelegramHarness, astronaut: np.ndarray, hanks: np.ndarray
) -> None:
    admin, dave = Person(tg, ADMIN_ID, "Root"), tg.person("Dave")
    await tg.feed(admin.text("/start"), dave.text("/start"))

    async def figures() -> tuple[int, ...]:
        await tg.feed(admin.text("/stats"))
        lines = admin.texts()[-1].splitlines()
        blocked = next(line for line in lines if line.startswith("Blocked by the content guard today: "))
        reports = next(line for line in lines if line.startswith("Reports: "))
        numbers = [int(word) for word in reports.replace(",", " ").split() if word.isdecimal()]
        return (int(blocked.rsplit(" ", 1)[1]), *numbers)

    before = await figures()
    user = await dave.user()
    job_id = f"swap:blocked{user.id}"
    async with tg.db.transaction() as session:  # what the worker's guard leaves: a failed, refunded job
        await db_jobs.create(session, job_id=job_id, user_id=user.id, kind="swap", cost=1)
        await db_jobs.start(session, job_id, worker_id="w", lease=timedelta(minutes=1))
        await db_jobs.fail(session, job_id, code="content_blocked", worker_id="w")
    async with tg.db.transaction() as session:  # and a job failed for another reason is not counted
        await db_jobs.create(session, job_id=f"{job_id}x", user_id=user.id, kind="swap", cost=1)
        await db_jobs.start(session, f"{job_id}x", worker_id="w", lease=timedelta(minutes=1))
        await db_jobs.fail(session, f"{job_id}x", code="no_face", worker_id="w")
    await save_face(tg, dave, png(astronaut), "me")
    result = await _result_in_group(tg, dave, enlarged(hanks))
    await _report(tg, admin, result)
    after = await figures()
    # blocked today, reports today, open, confirmed today
    assert (after[0] - before[0], after[1] - before[1], after[2] - before[2], after[3] - before[3]) == (
        1,
        1,
        1,
        0,
    )


async def test_help_names_report_and_the_admins_help_names_reports(tg: TelegramHarness) -> None:
    bob, admin = tg.person("Bob"), Person(tg, ADMIN_ID, "Root")
    await tg.feed(bob.text("/help"), admin.text("/help"))
    assert "/report " in bob.texts()[-1] and "/reports" not in bob.texts()[-1]
    assert "/reports" in admin.texts()[-1]


@pytest.fixture
async def tg_on_pg(telegram: FakeTelegram, tg_postgres: Database) -> AsyncIterator[TelegramHarness]:
    config = BotConfig(
        secret_key=SECRET, admins=frozenset({("telegram", str(ADMIN_ID))}), report_ban_threshold=2
    )
    harness = await open_tg(tg_postgres, telegram, SquareEngine(), config=config)
    try:
        yield harness
    finally:
        await close_tg(harness)


async def _delivered(tg: TelegramHarness, owner: Person, message_id: int) -> str:
    """A swap of ``owner``'s delivered as message ``message_id`` in their chat, as the worker leaves it."""
    user = await owner.user()
    job_id = f"swap:delivered{user.id}x{message_id}"
    async with tg.db.transaction() as session:
        delivery = db_jobs.Delivery("telegram", str(owner.id), "1")
        await db_jobs.create(session, job_id=job_id, user_id=user.id, kind="swap", cost=0, delivery=delivery)
        await db_jobs.start(session, job_id, worker_id="w", lease=timedelta(minutes=1))
        await db_jobs.succeed(session, job_id, result_ref=f"photo:AgAC-result#{message_id}", worker_id="w")
    return job_id


async def test_confirmations_at_once_on_postgres_decide_once_and_ban_at_the_threshold(
    tg_on_pg: TelegramHarness,
) -> None:
    """Two admins confirming the owner's two reports at the same moment (and one of them twice): each
    report is decided once, and the owner is banned although each confirmation alone saw only its own
    (the owner's row is locked while the confirmed reports are counted)."""
    tg = tg_on_pg
    owner, bob, carol = tg.person("Owner"), tg.person("Bob"), tg.person("Carol")
    await tg.feed(owner.text("/start"), bob.text("/start"), carol.text("/start"))
    await _delivered(tg, owner, 501)
    await _delivered(tg, owner, 502)
    reporter_bob, reporter_carol = await bob.user(), await carol.user()
    # The owner's chat is where both results are (as if forwarded there: the chat is what counts).
    made = [
        await reports_flow.report(tg.services, reporter_bob, str(owner.id), "501", "fake nude"),
        await reports_flow.report(tg.services, reporter_carol, str(owner.id), "502", None),
    ]
    assert all(m.made for m in made), made
    first, second = (m.report_id for m in made)
    assert first is not None and second is not None
    confirm = reports_flow.Action.CONFIRM
    decided = await asyncio.gather(
        reports_flow.decide(tg.services, first, confirm, "telegram:1"),
        reports_flow.decide(tg.services, second, confirm, "telegram:2"),
        reports_flow.decide(tg.services, first, confirm, "telegram:2"),
    )
    codes = sorted(d.code for d in decided)
    # The first report pressed twice is decided once; whichever confirmation counted last saw both.
    assert codes == ["report_confirmed", "report_confirmed_banned", "report_decided"], codes
    assert (await owner.user()).is_banned
    async with tg.db.session() as session:
        statuses = [(await session.get(Report, r, populate_existing=True)).status for r in (first, second)]
    assert statuses == ["confirmed", "confirmed"]


@CLASSIC
async def test_agreeing_to_a_question_about_a_photo_swaps_that_photo(
    tg: TelegramHarness, astronaut: np.ndarray, hanks: np.ndarray
) -> None:
    erin = tg.person("Erin", agreed=False)
    await save_face(tg, erin, png(astronaut), "me")  # saving a face is no swap: no question
    assert (await erin.user()).terms_accepted_at is None
    photo = erin.photo(png(enlarged(hanks)))
    await tg.feed(photo)
    await tg.idle()
    assert not photos_to(tg, erin) and (await erin.user()).balance == 3
    message_id, rows = _question(tg, erin)
    assert (
        tg.telegram.called("sendMessage")[-1]["reply_parameters"]["message_id"]
        == photo["message"]["message_id"]
    )

    press = erin.press(button_data(rows, "I agree"), message_id)
    press["callback_query"]["message"]["reply_to_message"] = photo["message"]  # what Telegram sends
    await tg.feed(press)
    await tg.idle()
    assert tg.telegram.text_of(erin.id, message_id) == "Thank you. Swapping your photo now."
    (result,) = photos_to(tg, erin)
    assert result.caption == "Credits left: 2." and (await erin.user()).balance == 2
