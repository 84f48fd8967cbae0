"""Account flows (credits, privacy, settings, admin) on the real job client, queue and databases: ARQ
on Postgres and the in-process runner on SQLite (the queue harness), results sent to a fake Telegram."""

from __future__ import annotations

import asyncio
import struct
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from bot.flows import admin, credits, privacy, settings
from bot.ratelimit import MemoryRateLimiter
from bot.services import BotConfig, Services
from bot.texts import Catalogue
from db import faces as db_faces
from db import jobs as db_jobs
from db import ledger
from db import users as db_users
from db.base import utcnow
from db.models import Job, LedgerEntry, Payment, User
from tests.fakes import hang
from tests.jobs.conftest import Harness, close_harness, open_harness, pg, sqlite, telegram, upload_started  # noqa: F401

SECRET = b"account-flows-secret-key-32bytes"
ADMIN = ("telegram", "999000111")


@pytest.fixture(params=["arq", "local"])
async def harness(request: pytest.FixtureRequest, telegram, pg, sqlite) -> AsyncIterator[Harness]:  # noqa: F811
    opened = await open_harness(request.param, pg if request.param == "arq" else sqlite, telegram)
    try:
        yield opened
    finally:
        await close_harness(opened)


@pytest.fixture
def services(harness: Harness) -> Services:
    config = BotConfig(secret_key=SECRET, free_credits=3, admins=frozenset({ADMIN}), restorers=("gfpgan",))
    return Services(harness.db, harness.client, Catalogue(), config, MemoryRateLimiter())


async def _user(harness: Harness, balance: int = 10) -> User:
    user_id = await harness.user(balance)
    async with harness.db.session() as session:
        return await db_users.get(session, user_id)


async def _jobs_of(harness: Harness, user_id: int) -> int:
    async with harness.db.session() as session:
        return await session.scalar(select(func.count()).select_from(Job).where(Job.user_id == user_id)) or 0


async def _keys(harness: Harness, prefix: str) -> list[str]:
    async with harness.db.session() as session:
        rows = await session.scalars(select(LedgerEntry.key).where(LedgerEntry.key.like(f"{prefix}%")))
        return list(rows)


async def test_balance_is_the_ledger_balance(harness: Harness, services: Services) -> None:
    user = await _user(harness, 7)
    assert await credits.balance(services, user) == 7
    await harness.client.submit(await harness.request(user.id, cost=2))
    assert await credits.balance(services, user) == 5


async def test_history_lists_jobs_and_resends_only_the_owners_result(
    harness: Harness, services: Services
) -> None:
    owner, stranger = await _user(harness), await _user(harness)
    ticket = await harness.client.submit(await harness.request(owner.id))
    await harness.drain()
    lines = await credits.history(services, owner)
    assert [(line.job_id, line.status, line.resendable) for line in lines] == [
        (ticket.job_id, "succeeded", True)
    ]
    assert await credits.history(services, stranger) == []

    photos = len(harness.telegram.called("sendPhoto"))
    jobs_before, balance_before = await _jobs_of(harness, owner.id), await harness.balance(owner.id)
    assert await credits.resend(services, stranger, ticket.job_id) is credits.Resend.NOT_YOURS
    assert len(harness.telegram.called("sendPhoto")) == photos
    assert await credits.resend(services, owner, ticket.job_id) is credits.Resend.SENT
    sent = harness.telegram.called("sendPhoto")
    assert len(sent) == photos + 1
    assert str(sent[-1]["chat_id"]) == str(harness.chat)
    # No new job, no charge: the stored result went out again.
    assert await _jobs_of(harness, owner.id) == jobs_before
    assert await harness.balance(owner.id) == balance_before
    assert await credits.resend(services, owner, "swap:not-a-job") is credits.Resend.NOT_YOURS

    async with harness.db.transaction() as session:  # retention drops the result
        await db_jobs.purge_before(session, utcnow() + timedelta(seconds=1))
    assert await credits.resend(services, owner, ticket.job_id) is credits.Resend.GONE
    assert [line.resendable for line in await credits.history(services, owner)] == [False]


async def test_cancel_refunds_once_and_says_when_there_is_nothing(
    harness: Harness, services: Services
) -> None:
    user = await _user(harness, 5)
    ticket = await harness.client.submit(await harness.request(user.id, cost=2))
    assert await harness.balance(user.id) == 3

    done = await credits.cancel(services, user)
    assert done == credits.Cancelled(jobs=1, refunded=2, balance=5, on_its_way=0)
    assert (await harness.job(ticket.job_id)).status == "cancelled"
    assert await credits.cancel(services, user) == credits.Cancelled(jobs=0, refunded=0, balance=5)
    assert await harness.ledger_keys(ticket.job_id) == [f"job:{ticket.job_id}", f"refund:{ticket.job_id}"]
    await harness.drain()  # the cancelled job never runs
    assert (await harness.job(ticket.job_id)).status == "cancelled"
    assert await harness.balance(user.id) == 5


async def _held_upload(harness: Harness, user: User, hold_s: float) -> tuple[str, asyncio.Task[None]]:
    """A job whose result upload the fake Bot API holds for ``hold_s``: returns once it is in flight."""
    harness.telegram.script("sendPhoto").push(hang(hold_s))
    ticket = await harness.client.submit(await harness.request(user.id))
    draining = asyncio.create_task(harness.drain())
    await upload_started(harness.telegram)
    return ticket.job_id, draining


async def test_cancel_during_the_upload_says_it_is_on_its_way_and_charges_once(
    harness: Harness, services: Services
) -> None:
    user = await _user(harness, 5)
    job_id, draining = await _held_upload(harness, user, 1.0)

    done = await credits.cancel(services, user)
    await asyncio.wait_for(draining, 30)

    assert done == credits.Cancelled(jobs=0, refunded=0, balance=4, on_its_way=1)
    assert credits.cancel_reply(done) == [("cancel_on_its_way", {"count": 1})]
    assert (await harness.job(job_id)).status == "succeeded"
    assert len(harness.telegram.sent_to(harness.chat, "photo")) == 1
    assert await harness.balance(user.id) == 4
    assert await harness.ledger_keys(job_id) == [f"job:{job_id}"]
    both = credits.cancel_reply(credits.Cancelled(jobs=2, refunded=3, balance=9, on_its_way=1))
    assert both == [
        ("cancel_done", {"count": 2, "refunded": 3, "credits": 9}),
        ("cancel_on_its_way", {"count": 1}),
    ]
    assert credits.cancel_reply(credits.Cancelled(jobs=0, refunded=0, balance=4)) == [("cancel_none", {})]


async def test_forget_during_the_upload_waits_for_it_and_then_deletes(
    harness: Harness, services: Services
) -> None:
    user = await _user(harness, 5)
    job_id, draining = await _held_upload(harness, user, 1.0)

    gone = await privacy.forget(services, user)

    # Nothing reaches the chat after the user was forgotten: the delivery had finished first.
    assert len(harness.telegram.sent_to(harness.chat, "photo")) == 1
    await asyncio.wait_for(draining, 30)
    assert isinstance(gone, privacy.Forgotten) and gone.jobs == 1 and gone.cancelled == 0
    assert privacy.forget_reply(gone) == ("forget_done", {"faces": 0, "jobs": 1})
    assert len(harness.telegram.sent_to(harness.chat, "photo")) == 1
    async with harness.db.session() as session:
        assert await session.get(User, user.id) is None
        assert await ledger.find(session, f"refund:{job_id}") is None  # delivered: paid for, once
        debit = await ledger.find(session, f"job:{job_id}")
        assert debit is not None and debit.user_id is None  # kept, anonymised


async def test_forget_refuses_while_a_delivery_outlasts_its_wait(
    harness: Harness, services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(privacy, "FORGET_WAIT_S", 0.3)
    user = await _user(harness, 5)
    job_id, draining = await _held_upload(harness, user, 2.0)

    busy = await privacy.forget(services, user)

    assert isinstance(busy, privacy.StillDelivering)
    assert privacy.forget_reply(busy) == ("forget_busy", {})
    async with harness.db.session() as session:
        assert await session.get(User, user.id) is not None  # nothing deleted
    await asyncio.wait_for(draining, 30)
    assert (await harness.job(job_id)).status == "succeeded"
    assert isinstance(await privacy.forget(services, user), privacy.Forgotten)  # now it goes ahead


async def test_forget_cancels_refunds_deletes_and_a_return_gets_no_free_credits(
    harness: Harness, services: Services
) -> None:
    async with harness.db.transaction() as session:
        user, created = await db_users.get_or_create(
            session, "telegram", f"{harness.chat}7", free_credits=3, grant_secret=SECRET
        )
    assert created and user.balance == 3
    harness.users.append(user.id)
    async with harness.db.transaction() as session:
        vector = struct.pack("<4f", 0.1, 0.2, 0.3, 0.4)
        await db_faces.save(session, user.id, "me", chip=b"\xff\xd8jpeg", landmarks=[[1, 2]] * 5,
                            embeddings={"dlib": vector})  # fmt: skip
    ticket = await harness.client.submit(await harness.request(user.id))

    assert (await privacy.kept(services, user)).faces == 1
    gone = await privacy.forget(services, user)
    assert gone == privacy.Forgotten(faces=1, jobs=1, cancelled=1)
    assert await privacy.forget(services, user) is None  # pressed twice: nothing left
    async with harness.db.session() as session:
        assert await session.get(User, user.id) is None
        assert await db_faces.count(session, user.id) == 0
        # Refunded before deletion; the ledger stays, anonymised.
        refund = await ledger.find(session, f"refund:{ticket.job_id}")
        assert refund is not None and refund.delta == 1 and refund.user_id is None
    assert await _jobs_of(harness, user.id) == 0
    await harness.drain()  # nothing runs for a forgotten user

    async with harness.db.transaction() as session:
        back, created = await db_users.get_or_create(
            session, "telegram", f"{harness.chat}7", free_credits=3, grant_secret=SECRET
        )
    harness.users.append(back.id)
    assert created and back.id != user.id and back.balance == 0


async def test_settings_store_choices_and_the_swap_job_takes_the_restorer(
    harness: Harness, services: Services
) -> None:
    user = await _user(harness)
    assert settings.swap_options(services, user) == {"restorer": None}
    assert await settings.set_restorer(services, user, "codeformer") is settings.Changed.UNAVAILABLE
    assert await settings.set_restorer(services, user, "gfpgan") is settings.Changed.DONE
    assert await settings.set_language(services, user, "xx") is settings.Changed.UNAVAILABLE
    assert await settings.set_language(services, user, "ko") is settings.Changed.DONE

    async with harness.db.session() as session:
        stored = await db_users.get(session, user.id)
    assert (stored.restorer, stored.language) == ("gfpgan", "ko")
    view = await settings.view(services, stored)
    assert (view.language, view.restorer, view.restorers) == ("ko", "gfpgan", ("gfpgan",))

    request = await harness.request(user.id, params=settings.swap_options(services, stored))
    ticket = await harness.client.submit(request)
    assert (await harness.job(ticket.job_id)).params["restorer"] == "gfpgan"

    # A restorer the workers stopped offering is left out of new jobs rather than failing them.
    narrowed = Services(
        services.db, services.jobs, services.texts, BotConfig(secret_key=SECRET), services.limiter
    )
    assert settings.swap_options(narrowed, stored) == {"restorer": None}
    assert await settings.set_restorer(services, user, None) is settings.Changed.DONE
    assert settings.swap_options(services, user) == {"restorer": None}


async def test_default_face_only_from_the_users_own_faces(harness: Harness, services: Services) -> None:
    user, other = await _user(harness), await _user(harness)
    vector = struct.pack("<2f", 0.5, 0.5)
    async with harness.db.transaction() as session:
        first = await db_faces.save(
            session, user.id, "ann", chip=b"c", landmarks=[[0, 0]], embeddings={"m": vector}
        )
        second = await db_faces.save(
            session, user.id, "bob", chip=b"c", landmarks=[[0, 0]], embeddings={"m": vector}
        )
        foreign = await db_faces.save(
            session, other.id, "eve", chip=b"c", landmarks=[[0, 0]], embeddings={"m": vector}
        )
    assert (await settings.view(services, user)).default_face == "ann"
    assert await settings.set_default_face(services, user, foreign.id) is None
    assert (await settings.view(services, other)).default_face == "eve"
    assert (await settings.view(services, user)).default_face == "ann"
    assert await settings.set_default_face(services, user, second.id) == "bob"
    view = await settings.view(services, user)
    assert view.default_face == "bob"
    assert [face.face_id for face in view.faces] == [first.id, second.id]


def test_parse_target() -> None:
    assert admin.parse_target("telegram:123", "discord") == ("telegram", "123")
    assert admin.parse_target("456", "telegram") == ("telegram", "456")
    assert admin.parse_target("@17", "telegram") == 17
    for bad in ("", "@", "@x", "mastodon:1", "telegram:abc", "telegram:", "@²", "telegram:²"):
        with pytest.raises(admin.BadTarget):
            admin.parse_target(bad, "telegram")


async def test_grant_once_per_command_and_only_to_known_users(harness: Harness, services: Services) -> None:
    user = await _user(harness, 1)
    target = (user.platform, user.external_id)
    key = f"telegram:{harness.chat}:42"
    first = await admin.grant(services, target, 5, command_key=key)
    again = await admin.grant(services, target, 5, command_key=key)
    assert (first.outcome, first.balance) == (admin.Outcome.DONE, 6)
    assert (again.outcome, again.balance) == (admin.Outcome.ALREADY, 6)
    by_number = await admin.grant(services, user.id, 2, command_key=f"{key}:next")
    assert (by_number.outcome, by_number.balance) == (admin.Outcome.DONE, 8)
    assert await harness.balance(user.id) == 8
    missing = await admin.grant(services, ("telegram", "1"), 5, command_key=f"{key}:missing")
    assert missing.outcome is admin.Outcome.NO_USER
    assert len(await _keys(harness, f"admin:grant:{key}")) == 2
    with pytest.raises(ValueError):
        await admin.grant(services, target, 0, command_key=f"{key}:zero")


async def test_ban_unban_and_admins_cannot_be_banned(harness: Harness, services: Services) -> None:
    user = await _user(harness)
    target = (user.platform, user.external_id)
    assert await admin.set_banned(services, target, True) is admin.Outcome.DONE
    assert await admin.set_banned(services, target, True) is admin.Outcome.ALREADY
    async with harness.db.session() as session:
        assert (await db_users.get(session, user.id)).is_banned
    assert await admin.set_banned(services, user.id, False) is admin.Outcome.DONE
    async with harness.db.session() as session:
        assert not (await db_users.get(session, user.id)).is_banned
    async with harness.db.transaction() as session:
        boss, _ = await db_users.get_or_create(session, *ADMIN)
    harness.users.append(boss.id)
    assert await admin.set_banned(services, ADMIN, True) is admin.Outcome.IS_ADMIN
    assert await admin.set_banned(services, ("telegram", "2"), True) is admin.Outcome.NO_USER


async def test_stats_count_users_jobs_queue_and_stars(harness: Harness, services: Services) -> None:
    before = await admin.stats(services)
    user = await _user(harness)
    await harness.client.submit(await harness.request(user.id))
    cancelled = await harness.client.submit(await harness.request(user.id, params={"faces": [1]}))
    await harness.client.cancel(cancelled.job_id)
    async with harness.db.transaction() as session:
        session.add(
            Payment(provider="telegram_stars", charge_id=f"c{harness.chat}", user_id=user.id, amount=150,
                    currency="XTR", credits=10, status="paid")
        )  # fmt: skip
    after = await admin.stats(services)
    assert after.users == before.users + 1
    assert after.queued == before.queued + 1
    assert after.jobs_since.get("queued", 0) == before.jobs_since.get("queued", 0) + 1
    assert after.jobs_since.get("cancelled", 0) == before.jobs_since.get("cancelled", 0) + 1
    assert after.stars_since == before.stars_since + 150
    assert after.stars_total == before.stars_total + 150
