"""Account commands through the real dispatcher and the fake Bot API: /balance, /history and its resend
button, /cancel, /privacy, /forget and /settings."""

from __future__ import annotations

import asyncio
import struct
import threading
from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import func, select

from bot.services import BotConfig
from bot.telegram.keyboards import (
    ForgetAnswer,
    ResendJob,
    SettingsFace,
    SettingsLanguage,
    SettingsOpen,
    SettingsRestorer,
)
from db import faces as db_faces
from db import ledger
from db.jobs import Delivery
from db.models import Job, LedgerEntry, SavedFace, User
from db.session import Database
from jobs.request import InputRef, JobRequest
from tests.fakes import hang
from tests.fakes.telegram_server import FakeTelegram
from tests.jobs.conftest import upload_started
from tests.jobs.squares import SquareEngine, picture, png
from tests.telegram.conftest import REDIS_URL, SECRET, Person, TelegramHarness, close_tg, open_tg

RED, BLUE = (0, 0, 255), (255, 0, 0)
CONFIG = BotConfig(secret_key=SECRET, restorers=("gfpgan",))


@pytest.fixture
async def account(telegram: FakeTelegram, tg_sqlite: Database) -> AsyncIterator[TelegramHarness]:
    """The embedded mode with a restorer on offer."""
    harness = await open_tg(tg_sqlite, telegram, SquareEngine(), config=CONFIG)
    try:
        yield harness
    finally:
        await close_tg(harness)


@pytest.fixture
async def account_pg(telegram: FakeTelegram, tg_postgres: Database) -> AsyncIterator[TelegramHarness]:
    """Postgres and ARQ: jobs wait in Redis until ``drain``, so they can be cancelled while queued."""
    harness = await open_tg(tg_postgres, telegram, SquareEngine(), config=CONFIG, redis_url=REDIS_URL)
    try:
        yield harness
    finally:
        await close_tg(harness)


def last_markup(tg: TelegramHarness, person: Person) -> tuple[int, list[tuple[str, str]]]:
    """The id of the bot's last message to ``person`` and its inline buttons (text, callback data)."""
    message_id = tg.telegram.sent_to(person.id)[-1].message_id
    calls = [c.fields for c in tg.telegram.requests if c.fields.get("reply_markup") and
             str(c.fields.get("chat_id")) == str(person.id)]  # fmt: skip
    rows = calls[-1]["reply_markup"]["inline_keyboard"]
    return message_id, [(b["text"], b["callback_data"]) for row in rows for b in row]


def callback_answers(tg: TelegramHarness) -> list[str | None]:
    return [call.get("text") for call in tg.telegram.called("answerCallbackQuery")]


async def submit_swap(tg: TelegramHarness, person: Person) -> str:
    """A paid swap job of this person delivered to their chat, through the bot's job client."""
    user = await person.user()
    target = tg.telegram.add_file(png(picture((RED, 20, 20))))
    source = tg.telegram.add_file(png(picture((BLUE, 50, 30))))
    ticket = await tg.services.jobs.submit(
        JobRequest(
            user_id=user.id,
            kind="swap",
            target=InputRef.telegram(*target),
            source=InputRef.telegram(*source),
            delivery=Delivery("telegram", str(person.id)),
        )
    )
    return ticket.job_id


async def count_jobs(tg: TelegramHarness, user_id: int) -> int:
    async with tg.db.session() as session:
        return await session.scalar(select(func.count()).select_from(Job).where(Job.user_id == user_id)) or 0


async def save_face(tg: TelegramHarness, user_id: int, name: str) -> SavedFace:
    async with tg.db.transaction() as session:
        return await db_faces.save(session, user_id, name, chip=b"\xff\xd8", landmarks=[[1.0, 2.0]],
                                   embeddings={"squares-colour": struct.pack("<3f", 0, 0, 1)})  # fmt: skip


async def test_balance_is_a_number_in_the_text(account: TelegramHarness) -> None:
    alice = account.person()
    await account.feed(alice.text("/balance"))
    assert alice.texts()[-1] == "You have 3 credits."
    async with account.db.transaction() as session:
        user = await alice.user()
        await ledger.post(session, user_id=user.id, delta=4, reason="admin", key=f"test:{user.id}")
    await account.feed(alice.text("/balance"))
    assert "7" in alice.texts()[-1]


async def test_history_lists_jobs_and_resends_only_to_the_owner(account: TelegramHarness) -> None:
    alice, mallory = account.person(), account.person("Mallory")
    await account.feed(alice.text("/history"), mallory.text("/start"))
    assert "no jobs yet" in alice.texts()[-1]
    job_id = await submit_swap(account, alice)
    await account.drain()
    photos = len(account.telegram.sent_to(alice.id, "photo"))
    assert photos == 1

    await account.feed(alice.text("/history"))
    assert "1. face swap: done" in alice.texts()[-1]
    message_id, buttons = last_markup(account, alice)
    kind, _, key = job_id.partition(":")
    assert buttons == [("1", ResendJob(kind=kind, key=key).pack())]
    user = await alice.user()
    jobs, balance = await count_jobs(account, user.id), user.balance

    # Someone else's press (the data is the client's to forge): a short answer, nothing sent.
    await account.feed(mallory.press(buttons[0][1], message_id))
    assert callback_answers(account)[-1] == "That job is not yours, or it no longer exists."
    assert len(account.telegram.sent_to(alice.id, "photo")) == photos
    assert account.telegram.sent_to(mallory.id, "photo") == []

    await account.feed(alice.press(buttons[0][1], message_id))
    assert callback_answers(account)[-1] == "Sent again."
    resent = account.telegram.sent_to(alice.id, "photo")
    assert len(resent) == photos + 1 and resent[-1].data is None  # by file_id: no new upload, no GPU
    assert await count_jobs(account, user.id) == jobs
    assert (await alice.user()).balance == balance


async def test_cancel_refunds_once(account_pg: TelegramHarness) -> None:
    tg = account_pg
    bob = tg.person("Bob")
    await tg.feed(bob.text("/cancel"))
    assert bob.texts()[-1] == "You have no job waiting or running."
    job_id = await submit_swap(tg, bob)
    assert (await bob.user()).balance == 2

    await tg.feed(bob.text("/cancel"))
    assert bob.texts()[-1] == "Cancelled: 1. 1 credits came back; you have 3 credits."
    await tg.feed(bob.text("/cancel"))
    assert bob.texts()[-1] == "You have no job waiting or running."
    await tg.drain()  # the cancelled job never runs
    async with tg.db.session() as session:
        keys = list(await session.scalars(select(LedgerEntry.key).where(LedgerEntry.key.like(f"%{job_id}"))))
        assert sorted(keys) == [f"job:{job_id}", f"refund:{job_id}"]
        assert (await session.get(Job, job_id)).status == "cancelled"  # type: ignore[union-attr]
    assert (await bob.user()).balance == 3
    assert tg.telegram.sent_to(bob.id, "photo") == []


async def test_cancel_stops_a_running_job_and_refunds_it(telegram: FakeTelegram, tg_sqlite: Database) -> None:
    gate = threading.Event()
    engine = SquareEngine(gate=gate)
    tg = await open_tg(tg_sqlite, telegram, engine, config=CONFIG)
    try:
        kim = tg.person("Kim")
        await tg.feed(kim.text("/start"))
        job_id = await submit_swap(tg, kim)
        await asyncio.to_thread(engine.entered.wait, 30)  # the in-process worker is swapping now
        async with tg.db.session() as session:
            assert (await session.get(Job, job_id)).status == "running"  # type: ignore[union-attr]

        await tg.feed(kim.text("/cancel"))
        assert kim.texts()[-1] == "Cancelled: 1. 1 credits came back; you have 3 credits."
        gate.set()  # the engine thread finishes; its result must not be delivered or charged
        await tg.idle()
        async with tg.db.session() as session:
            assert (await session.get(Job, job_id)).status == "cancelled"  # type: ignore[union-attr]
        assert (await kim.user()).balance == 3
        assert tg.telegram.sent_to(kim.id, "photo") == []
    finally:
        gate.set()
        await close_tg(tg)


async def test_cancel_while_the_result_uploads_says_it_is_on_its_way(
    telegram: FakeTelegram, tg_sqlite: Database
) -> None:
    """The race of issue 16 through the real dispatcher: the upload is held by the Bot API while the
    person sends /cancel. The photo arrives, is paid for once, and the answer says why nothing was
    cancelled."""
    tg = await open_tg(tg_sqlite, telegram, SquareEngine(), config=CONFIG)
    try:
        lee = tg.person("Lee")
        await tg.feed(lee.text("/start"))
        telegram.script("sendPhoto").push(hang(1.0))
        job_id = await submit_swap(tg, lee)
        await upload_started(telegram)

        await tg.feed(lee.text("/cancel"))
        assert lee.texts()[-1] == (
            "Already being sent to you, so not cancelled: 1. It is paid for and arrives in a moment."
        )
        await tg.idle()
        async with tg.db.session() as session:
            job = await session.get(Job, job_id)
            assert job is not None and (job.status, job.delivered_at is not None) == ("succeeded", True)
            keys = list(
                await session.scalars(select(LedgerEntry.key).where(LedgerEntry.key.like(f"%{job_id}")))
            )
        assert keys == [f"job:{job_id}"]
        assert len(tg.telegram.sent_to(lee.id, "photo")) == 1
        assert (await lee.user()).balance == 2
    finally:
        await close_tg(tg)


async def test_privacy_says_what_is_kept_and_for_how_long(account: TelegramHarness) -> None:
    carol = account.person("Carol")
    await account.feed(carol.text("/start"))
    await save_face(account, (await carol.user()).id, "me")
    await account.feed(carol.text("/privacy"))
    answer = carol.texts()[-1]
    assert "never the photo" in answer and "You have 1." in answer
    assert "24 hours" in answer and "/forget" in answer


async def test_forget_needs_the_button_deletes_everything_and_a_return_gets_no_free_credits(
    account_pg: TelegramHarness,
) -> None:
    tg = account_pg
    dave, eve = tg.person("Dave"), tg.person("Eve")
    await tg.feed(dave.text("/start"), eve.text("/start"))
    user = await dave.user()
    await save_face(tg, user.id, "me")
    job_id = await submit_swap(tg, dave)

    await tg.feed(dave.text("/forget"))
    assert "Delete everything?" in dave.texts()[-1]
    message_id, buttons = last_markup(tg, dave)
    assert [data for _, data in buttons] == [
        ForgetAnswer(user=user.id, yes=True).pack(),
        ForgetAnswer(user=user.id, yes=False).pack(),
    ]
    assert (await dave.user()).id == user.id  # nothing deleted before the button

    await tg.feed(eve.press(buttons[0][1], message_id))  # not Eve's to press
    assert callback_answers(tg)[-1] == "This button is not for you."
    await tg.feed(dave.press(buttons[1][1], message_id))
    assert tg.telegram.edits_of(dave.id, message_id)[-1] == "Nothing was deleted."
    assert (await dave.user()).id == user.id and (await eve.user()).balance == 3

    await tg.feed(dave.press(buttons[0][1], message_id))
    assert tg.telegram.edits_of(dave.id, message_id)[-1].startswith(
        "Done: everything about you is deleted (1"
    )
    async with tg.db.session() as session:
        assert await session.get(User, user.id) is None
        assert (
            await session.scalar(
                select(func.count()).select_from(SavedFace).where(SavedFace.user_id == user.id)
            )
            == 0
        )
        refund = await ledger.find(session, f"refund:{job_id}")
        assert refund is not None and refund.user_id is None  # refunded first, then anonymised
    assert await count_jobs(tg, user.id) == 0
    await tg.drain()
    assert tg.telegram.sent_to(dave.id, "photo") == []

    await tg.feed(dave.text("/start"))
    back = await dave.user()
    assert back.id != user.id and back.balance == 0
    assert "free credits" not in dave.texts()[-1]
    await tg.feed(dave.press(buttons[0][1], message_id))  # the old button again: nothing left to delete
    assert callback_answers(tg)[-1] == "There is nothing left to delete."
    assert (await dave.user()).id == back.id


def ensure_russian(tg: TelegramHarness) -> dict[str, Any]:
    """A Russian sentence for /balance, unless the catalogue has Russian already."""
    return tg.services.texts.languages.setdefault("ru", {"balance": "У вас {credits} кредитов."})


async def test_settings_language_changes_the_next_answer(account: TelegramHarness) -> None:
    ensure_russian(account)
    fay = account.person("Fay")
    await account.feed(fay.text("/balance"))
    english = fay.texts()[-1]
    await account.feed(fay.text("/settings"))
    assert "Language: English" in fay.texts()[-1]
    message_id, buttons = last_markup(account, fay)
    assert SettingsOpen(page="language").pack() in [data for _, data in buttons]

    await account.feed(fay.press(SettingsOpen(page="language").pack(), message_id))
    _, languages = last_markup(account, fay)
    assert [data for _, data in languages] == [
        SettingsLanguage(code=c).pack() for c in ("en", "ru", "ko", "vi")
    ]
    await account.feed(fay.press(SettingsLanguage(code="xx").pack(), message_id))  # forged: not offered
    assert (await fay.user()).language == "en"
    await account.feed(fay.press(SettingsLanguage(code="ru").pack(), message_id))
    assert (await fay.user()).language == "ru"
    assert "Русский" in account.telegram.edits_of(fay.id, message_id)[-1]

    await account.feed(fay.text("/balance"))
    assert fay.texts()[-1] != english and "3" in fay.texts()[-1]


async def test_settings_restorer_goes_into_the_next_swap(account_pg: TelegramHarness) -> None:
    tg = account_pg
    gus = tg.person("Gus")
    await tg.feed(gus.text("/settings"))
    assert "Restore faces after a swap: off" in gus.texts()[-1]
    message_id, _ = last_markup(tg, gus)
    await tg.feed(gus.press(SettingsOpen(page="restorer").pack(), message_id))
    _, choices = last_markup(tg, gus)
    assert [data for _, data in choices] == [
        SettingsRestorer(name="gfpgan").pack(),
        SettingsRestorer(name="off").pack(),
    ]

    await tg.feed(gus.press(SettingsRestorer(name="codeformer").pack(), message_id))  # not offered here
    assert callback_answers(tg)[-1] == "That choice is not available any more. Please open /settings again."
    assert (await gus.user()).restorer is None
    await tg.feed(gus.press(SettingsRestorer(name="gfpgan").pack(), message_id))
    assert (await gus.user()).restorer == "gfpgan"
    assert "Restore faces after a swap: GFPGAN" in tg.telegram.edits_of(gus.id, message_id)[-1]

    user = await gus.user()
    await save_face(tg, user.id, "me")
    await tg.feed(gus.photo(png(picture((RED, 20, 20)))))
    async with tg.db.session() as session:
        jobs = list(await session.scalars(select(Job).where(Job.user_id == user.id)))
    assert jobs and all(job.params and job.params.get("restorer") == "gfpgan" for job in jobs)

    await tg.feed(gus.press(SettingsRestorer(name="off").pack(), message_id))
    assert (await gus.user()).restorer is None


async def test_settings_default_face_only_among_ones_own(account: TelegramHarness) -> None:
    hana, ivan = account.person("Hana"), account.person("Ivan")
    await account.feed(hana.text("/start"), ivan.text("/start"))
    hana_id, ivan_id = (await hana.user()).id, (await ivan.user()).id
    await save_face(account, hana_id, "ann")
    bob = await save_face(account, hana_id, "bob")
    ivans = await save_face(account, ivan_id, "iv")

    await account.feed(hana.text("/settings"))
    assert "Default face: ann" in hana.texts()[-1]
    message_id, _ = last_markup(account, hana)
    await account.feed(hana.press(SettingsOpen(page="face").pack(), message_id))
    _, faces = last_markup(account, hana)
    assert [text for text, _ in faces] == ["ann", "bob"]

    await account.feed(hana.press(SettingsFace(face=ivans.id).pack(), message_id))  # a forged press
    assert (
        callback_answers(account)[-1] == "That choice is not available any more. Please open /settings again."
    )
    async with account.db.session() as session:
        assert (await db_faces.get_default(session, ivan_id)).name == "iv"  # type: ignore[union-attr]
        assert (await db_faces.get_default(session, hana_id)).name == "ann"  # type: ignore[union-attr]
    await account.feed(hana.press(SettingsFace(face=bob.id).pack(), message_id))
    assert "Default face: bob" in account.telegram.edits_of(hana.id, message_id)[-1]
    async with account.db.session() as session:
        assert (await db_faces.get_default(session, hana_id)).name == "bob"  # type: ignore[union-attr]
