"""Cancel against delivery, on both queues (ARQ on Redis + Postgres, the in-process runner on SQLite):
a result that reached the chat is paid for exactly once, and a refunded job never delivers.

The fake Bot API holds the ``sendPhoto`` answer (the upload is in flight, and the photo is posted
when the hold ends, as Telegram posts what it received) while the cancel runs. Every test ends in one
of exactly two states: delivered and charged once (debit, no refund), or not delivered and refunded
once (debit and refund)."""

from __future__ import annotations

import asyncio
import threading

from jobs.client import Cancel
from tests.fakes import hang
from tests.jobs.conftest import Harness, upload_started

HOLD_S = 1.0  # how long the fake Bot API holds the upload before posting the photo


async def _delivered_and_charged_once(harness: Harness, user: int, job_id: str, balance_before: int) -> None:
    job = await harness.job(job_id)
    assert job.status == "succeeded" and job.delivered_at is not None
    assert len(harness.telegram.sent_to(harness.chat, "photo")) == 1
    assert await harness.balance(user) == balance_before - 1
    assert await harness.ledger_keys(job_id) == [f"job:{job_id}"]


async def _refunded_and_not_delivered(harness: Harness, user: int, job_id: str, balance_before: int) -> None:
    job = await harness.job(job_id)
    assert job.status == "cancelled" and job.delivered_at is None
    assert harness.telegram.sent_to(harness.chat, "photo") == []
    assert await harness.balance(user) == balance_before
    assert await harness.ledger_keys(job_id) == [f"job:{job_id}", f"refund:{job_id}"]


async def test_cancel_during_the_upload_is_refused_and_the_result_is_paid_once(harness: Harness) -> None:
    user = await harness.user(balance=3)
    harness.telegram.script("sendPhoto").push(hang(HOLD_S))
    ticket = await harness.client.submit(await harness.request(user))
    draining = asyncio.create_task(harness.drain())
    await upload_started(harness.telegram)

    assert await harness.client.cancel(ticket.job_id, user_id=user) is Cancel.ON_ITS_WAY
    assert (await harness.job(ticket.job_id)).status == "running"  # nothing moved while the photo is sent
    await asyncio.wait_for(draining, 30)

    await _delivered_and_charged_once(harness, user, ticket.job_id, 3)
    assert await harness.client.cancel(ticket.job_id, user_id=user) is Cancel.ENDED  # after delivery


async def test_cancel_before_the_work_starts_refunds_and_nothing_is_sent(harness: Harness) -> None:
    user = await harness.user(balance=3)
    ticket = await harness.client.submit(await harness.request(user))

    assert await harness.client.cancel(ticket.job_id, user_id=user) is Cancel.CANCELLED
    await harness.drain()

    assert harness.engine.swaps == 0
    await _refunded_and_not_delivered(harness, user, ticket.job_id, 3)


async def test_cancel_during_the_work_refunds_and_nothing_is_sent(harness: Harness) -> None:
    harness.engine.gate = threading.Event()
    user = await harness.user(balance=3)
    ticket = await harness.client.submit(await harness.request(user))
    draining = asyncio.create_task(harness.drain())
    assert await asyncio.to_thread(harness.engine.entered.wait, 20)

    assert await harness.client.cancel(ticket.job_id, user_id=user) is Cancel.CANCELLED
    harness.engine.gate.set()  # the engine finishes after the cancel: its result must go nowhere
    await asyncio.wait_for(draining, 30)

    assert "sendPhoto" not in harness.telegram.calls
    await _refunded_and_not_delivered(harness, user, ticket.job_id, 3)


async def test_cancel_after_delivery_changes_nothing(harness: Harness) -> None:
    user = await harness.user(balance=3)
    ticket = await harness.client.submit(await harness.request(user))
    await harness.drain()

    assert await harness.client.cancel(ticket.job_id, user_id=user) is Cancel.ENDED
    await _delivered_and_charged_once(harness, user, ticket.job_id, 3)


async def test_cancels_fired_at_any_moment_end_in_one_of_two_states(harness: Harness) -> None:
    """The race as a user would retime it: the cancel lands at moments swept from the engine's start
    (0.1 s of work) to the end of a held upload (0.3 s). Whatever wins, the job is either delivered
    and charged once, or refunded once with no photo; never both, never neither."""
    harness.engine.delay_s = 0.1
    seen: list[Cancel] = []
    for step in range(10):
        harness.telegram.sent.clear()
        harness.telegram.calls.clear()
        harness.engine.entered.clear()
        user = await harness.user(balance=3)
        harness.telegram.script("sendPhoto").push(hang(0.3))
        ticket = await harness.client.submit(await harness.request(user))
        draining = asyncio.create_task(harness.drain())
        assert await asyncio.to_thread(harness.engine.entered.wait, 20)
        await asyncio.sleep(step * 0.045)
        outcome = await harness.client.cancel(ticket.job_id, user_id=user)
        await asyncio.wait_for(draining, 30)
        if outcome is Cancel.CANCELLED:
            await _refunded_and_not_delivered(harness, user, ticket.job_id, 3)
        else:
            await _delivered_and_charged_once(harness, user, ticket.job_id, 3)
        seen.append(outcome)
    # The moments fall on both sides of the delivery's start: both answers were raced.
    assert Cancel.CANCELLED in seen and Cancel.ON_ITS_WAY in seen, seen
