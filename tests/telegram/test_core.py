"""The Telegram core: /start and the free credits, /help, bans, duplicates, errors, rate limits."""

from __future__ import annotations

from aiogram import Router
from aiogram.filters import Command
from aiogram.types import Message

from bot.people import reset_ban_notice
from db import jobs as db_jobs
from db import users
from db.errors import InsufficientCredits
from db.jobs import Delivery
from db.models import User
from jobs.request import InputRef, JobRequest
from tests.jobs.squares import picture, png
from tests.telegram.conftest import TelegramHarness


async def test_start_grants_the_free_credits_once(tg: TelegramHarness) -> None:
    alice = tg.person()
    await tg.feed(alice.text("/start"))
    first = alice.texts()[-1]
    assert "3 free credits" in first and "agreed" in first
    menu = tg.telegram.called("sendMessage")[-1]["reply_markup"]
    assert ["/help"] in [[b["text"] for b in row] for row in menu["keyboard"]]
    assert (await alice.user()).balance == 3

    await tg.feed(alice.text("/start"))
    assert (await alice.user()).balance == 3
    assert "free credits" not in alice.texts()[-1] and "You have 3 credits" in alice.texts()[-1]


async def test_help_lists_every_command(tg: TelegramHarness) -> None:
    bob = tg.person("Bob")
    await tg.feed(bob.text("/help"))
    answer = bob.texts()[-1]
    for command in (
        "/setface",
        "/faces",
        "/swap",
        "/caricature",
        "/settings",
        "/balance",
        "/history",
        "/cancel",
        "/buy",
        "/privacy",
        "/forget",
        "/paysupport",
        "/terms",
    ):
        assert command in answer
    assert "/grant" not in answer


async def test_start_on_postgres_with_arq(tg_pg: TelegramHarness) -> None:
    carol = tg_pg.person("Carol")
    await tg_pg.feed(carol.text("/start"), carol.text("/start"))
    assert (await carol.user()).balance == 3
    assert sum("free credits" in text for text in carol.texts()) == 1


async def test_the_first_language_comes_from_telegram(tg: TelegramHarness) -> None:
    dmitri = tg.person("Dmitri", language_code="ru-RU")
    await tg.feed(dmitri.text("/start"))
    assert (await dmitri.user()).language == "ru"
    async with tg.db.transaction() as session:  # a choice made in /settings is kept
        await users.update_profile(session, (await dmitri.user()).id, language="vi")
    dmitri.language_code = "ko"
    await tg.feed(dmitri.text("/start"))
    assert (await dmitri.user()).language == "vi"


async def test_a_banned_user_gets_one_answer_then_silence(tg: TelegramHarness) -> None:
    eve = tg.person("Eve")
    await tg.feed(eve.text("/start"))
    async with tg.db.transaction() as session:
        await users.update_profile(session, (await eve.user()).id, is_banned=True)
    before = len(eve.texts())
    await tg.feed(eve.text("/start"), eve.text("/help"), eve.text("/start"))
    said = eve.texts()[before:]
    assert said == [tg.services.texts.text("banned", "en")]
    await tg.feed(eve.press("anything", message_id=1))
    assert tg.telegram.called("answerCallbackQuery") == []
    # A payment must never hang: every pre-checkout query of a banned user is refused with the reason.
    await tg.feed(eve.pre_checkout("pack:10", 100), eve.pre_checkout("pack:10", 100))
    answers = tg.telegram.called("answerPreCheckoutQuery")
    assert [a["ok"] for a in answers] == ["false", "false"]
    assert all("no longer" in a["error_message"] for a in answers)


async def test_a_duplicate_update_is_handled_once(tg: TelegramHarness) -> None:
    frank = tg.person("Frank")
    update = frank.text("/help")
    await tg.feed(update, update)
    assert len(frank.texts()) == 1
    # The same message again under another update_id (a re-read queue) is a duplicate too.
    again = dict(update, update_id=update["update_id"] + 10_000)
    await tg.feed(again)
    assert len(frank.texts()) == 1
    await tg.feed(frank.text("/help"))
    assert len(frank.texts()) == 2


def _failing_router() -> Router:
    router = Router(name="test-failing")

    @router.message(Command("boom"))
    async def boom(message: Message) -> None:
        raise RuntimeError("a handler bug")

    @router.message(Command("broke"))
    async def broke(message: Message, user: User) -> None:
        raise InsufficientCredits(user.id, balance=0, needed=2)

    return router


async def test_a_handler_that_raises_apologises_and_the_bot_keeps_serving(tg: TelegramHarness) -> None:
    tg.dp.include_router(_failing_router())
    tg.dp.sub_routers.insert(0, tg.dp.sub_routers.pop())  # before the features: only its commands fail
    grace = tg.person("Grace")
    await tg.feed(grace.text("/boom"))
    assert grace.texts() == [tg.services.texts.text("sorry_error", "en")]
    await tg.feed(grace.text("/broke"))
    assert "needs 2 credit(s) and you have 0" in grace.texts()[-1]
    await tg.feed(grace.text("/start"))
    assert "You have 3 credits" in grace.texts()[-1]


async def test_the_harness_runs_jobs_both_ways(tg_both: TelegramHarness) -> None:
    """``idle``/``drain`` see a job through: the in-process runner, or an ARQ worker in burst mode."""
    harness = tg_both
    gina = harness.person("Gina")
    await harness.feed(gina.text("/start"))
    file_id, unique = harness.telegram.add_file(png(picture(((0, 0, 255), 20, 20), ((255, 0, 0), 70, 40))))
    delivery = Delivery("telegram", str(gina.id), None)
    user = await gina.user()
    ticket = await harness.services.jobs.submit(
        JobRequest.analysis(user.id, InputRef.telegram(file_id, unique), delivery)
    )
    await harness.idle()
    async with harness.db.session() as session:
        job = await db_jobs.get(session, ticket.job_id)
    assert job.status == "succeeded"
    assert harness.telegram.sent_to(gina.id, "photo")  # the numbered preview came back to the chat


async def test_a_second_ban_is_told_again_after_an_unban(tg: TelegramHarness) -> None:
    hal = tg.person("Hal")
    await tg.feed(hal.text("/start"))
    user_id = (await hal.user()).id
    banned = tg.services.texts.text("banned", "en")
    for _ in range(2):
        async with tg.db.transaction() as session:
            await users.update_profile(session, user_id, is_banned=True)
        await tg.feed(hal.text("/help"), hal.text("/help"))
        async with tg.db.transaction() as session:
            await users.update_profile(session, user_id, is_banned=False)
        await reset_ban_notice(tg.services, user_id)
    assert hal.texts().count(banned) == 2


async def test_a_button_nobody_handles_is_answered_and_changes_nothing(tg: TelegramHarness) -> None:
    dana = tg.person("Dana")
    await tg.feed(dana.text("/start"))
    balance = (await dana.user()).balance
    sent = len(tg.telegram.sent)

    await tg.feed(dana.press("v0:made-up:data", 1))

    answers = tg.telegram.called("answerCallbackQuery")
    assert [a.get("text") for a in answers] == ["This button no longer works. Please send the command again."]
    assert len(tg.telegram.sent) == sent  # no message, no job
    assert (await dana.user()).balance == balance


def test_every_handler_filter_runs_on_the_event_loop(tg: TelegramHarness) -> None:
    """aiogram sends a synchronous filter (a bare ``F`` rule, a plain function) through a thread on
    every update it checks; ours are all async (bot/telegram/filters.Magic)."""

    def sync_checks(checks: object) -> list[str]:
        found = []
        for check in checks or ():  # type: ignore[attr-defined]
            inner = getattr(check.callback, "targets", None) or [getattr(check.callback, "target", None)]
            found += [] if check.awaitable else [repr(check.callback)]
            found += sync_checks([each for each in inner if each is not None])
        return found

    routers = list(tg.dp.chain_tail)
    assert len(routers) > 10
    slow = [
        (router.name, handler.callback.__name__, sync_checks(handler.filters))
        for router in routers
        for observer in router.observers.values()
        for handler in observer.handlers
        if sync_checks(handler.filters)
    ]
    assert slow == []
