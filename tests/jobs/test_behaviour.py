"""What the queue promises, run on both queues (ARQ on Redis + Postgres, and the in-process runner on
SQLite): one job and one charge per request, refunds exactly once, retries with a limit, delivery
once, cancellation of waiting and running jobs."""

from __future__ import annotations

import asyncio

import cv2
import numpy as np
import pytest
from sqlalchemy import select

from db.errors import InsufficientCredits
from db.models import Job
from engine.errors import StylizerError
from jobs.client import Cancel
from tests.fakes.telegram_server import blocked, proxy_error, retry_after, server_error
from tests.jobs.conftest import BLUE, Harness
from tests.jobs.squares import colour_at, picture, png


def _decode(data: bytes | None) -> np.ndarray:
    assert data is not None
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    assert image is not None
    return image


def _near(colour: tuple[int, int, int], expected: tuple[int, int, int], tolerance: int = 12) -> bool:
    return all(abs(a - b) <= tolerance for a, b in zip(colour, expected, strict=True))


async def test_duplicate_submits_make_one_job_one_charge_one_delivery(harness: Harness) -> None:
    user = await harness.user(balance=5)
    request = await harness.request(user, cost=2)
    tickets = await asyncio.gather(*(harness.client.submit(request) for _ in range(8)))

    assert len({t.job_id for t in tickets}) == 1
    assert [t.created for t in tickets].count(True) == 1
    created = next(t for t in tickets if t.created)
    assert created.position == 1 and created.status == "queued"
    assert await harness.balance(user) == 3

    await harness.drain()

    job = await harness.job(created.job_id)
    assert (job.status, job.attempts, job.error_code) == ("succeeded", 1, None)
    assert job.delivered_at is not None
    photos = harness.telegram.sent_to(harness.chat, "photo")
    assert len(photos) == 1
    assert job.result_ref == f"photo:{photos[0].file_id}#{photos[0].message_id}"
    assert job.result_message == str(photos[0].message_id)
    assert photos[0].reply_to == int(request.delivery.message)  # answers the status message
    result = _decode(photos[0].data)
    assert _near(colour_at(result, 30, 30), BLUE)  # the red target square now has the source's colour
    assert _near(colour_at(result, 100, 80), (128, 128, 128))  # the rest of the picture is untouched
    assert harness.telegram.edits_of(harness.chat, request.delivery.message) == [
        "Queued: you are #1.",
        "Working on it…",
        "Done.",
    ]
    assert await harness.balance(user) == 3
    assert await harness.ledger_keys(created.job_id) == [f"job:{created.job_id}"]
    # Submitting again after it finished is still the same job: nothing charged, nothing run.
    again = await harness.client.submit(request)
    assert (again.job_id, again.created, again.status, again.position) == (
        created.job_id,
        False,
        "succeeded",
        None,
    )
    assert await harness.balance(user) == 3
    assert harness.engine.swaps == 1


async def test_no_face_fails_at_once_refunds_once_and_says_why(harness: Harness) -> None:
    user = await harness.user(balance=3)
    request = await harness.request(user, target=png(picture()))  # nothing face-like in it
    ticket = await harness.client.submit(request)
    assert await harness.balance(user) == 2

    await harness.drain()

    job = await harness.job(ticket.job_id)
    assert (job.status, job.error_code, job.attempts) == ("failed", "no_face", 1)
    assert await harness.balance(user) == 3
    assert await harness.ledger_keys(ticket.job_id) == [f"job:{ticket.job_id}", f"refund:{ticket.job_id}"]
    assert harness.telegram.sent_to(harness.chat, "photo") == []
    final = harness.telegram.text_of(harness.chat, request.delivery.message)
    assert final is not None and "could not find a face" in final and "refunded" in final
    assert job.delivered_at is not None  # the failure reached the chat
    # The same request again is a new job (the first was refunded), charged again.
    retried = await harness.client.submit(request)
    assert retried.created and retried.job_id == f"{ticket.job_id}.2"
    assert await harness.balance(user) == 2


async def test_transient_engine_failures_retry_then_succeed_charged_once(harness: Harness) -> None:
    user = await harness.user(balance=3)
    harness.engine.failures.extend([StylizerError("upstream 503", service="openai", permanent=False)] * 2)
    ticket = await harness.client.submit(await harness.request(user))

    await harness.drain()

    job = await harness.job(ticket.job_id)
    assert (job.status, job.attempts) == ("succeeded", 3)
    assert len(harness.telegram.sent_to(harness.chat, "photo")) == 1
    assert await harness.balance(user) == 2
    assert await harness.ledger_keys(ticket.job_id) == [f"job:{ticket.job_id}"]


async def test_transient_failures_past_max_tries_fail_and_refund_once(harness: Harness) -> None:
    user = await harness.user(balance=3)
    harness.engine.failures.extend([StylizerError("upstream 503", service="openai", permanent=False)] * 5)
    ticket = await harness.client.submit(await harness.request(user))

    await harness.drain()

    job = await harness.job(ticket.job_id)
    assert (job.status, job.error_code, job.attempts) == (
        "failed",
        "stylizer_error",
        harness.config.max_tries,
    )
    assert harness.engine.swaps == harness.config.max_tries
    assert await harness.balance(user) == 3
    assert await harness.ledger_keys(ticket.job_id) == [f"job:{ticket.job_id}", f"refund:{ticket.job_id}"]
    assert harness.telegram.sent_to(harness.chat, "photo") == []


async def test_delivery_failing_twice_with_5xx_is_retried_and_delivered_once(harness: Harness) -> None:
    user = await harness.user(balance=3)
    harness.telegram.script("sendPhoto").push(server_error(502), server_error(500))
    ticket = await harness.client.submit(await harness.request(user))

    await harness.drain()

    job = await harness.job(ticket.job_id)
    assert (job.status, job.attempts) == ("succeeded", 1)  # retried in place, no second engine run
    assert harness.telegram.calls.count("sendPhoto") == 3
    assert len(harness.telegram.sent_to(harness.chat, "photo")) == 1
    assert harness.engine.swaps == 1
    assert await harness.balance(user) == 2


async def test_a_proxys_html_502_on_delivery_is_retried_in_place_like_any_5xx(harness: Harness) -> None:
    user = await harness.user(balance=3)
    harness.telegram.script("sendPhoto").push(proxy_error(502))
    ticket = await harness.client.submit(await harness.request(user))

    await harness.drain()

    job = await harness.job(ticket.job_id)
    assert (job.status, job.attempts, job.error_code) == ("succeeded", 1, None)
    assert harness.engine.swaps == 1  # no second engine run for a flaky front proxy
    assert harness.telegram.calls.count("sendPhoto") == 2
    assert len(harness.telegram.sent_to(harness.chat, "photo")) == 1
    assert await harness.balance(user) == 2


async def test_rate_limited_delivery_waits_and_delivers_once(harness: Harness) -> None:
    user = await harness.user(balance=3)
    harness.telegram.script("sendPhoto").push(retry_after(1))
    ticket = await harness.client.submit(await harness.request(user))

    await harness.drain()

    job = await harness.job(ticket.job_id)
    assert job.status == "succeeded"
    assert harness.telegram.calls.count("sendPhoto") == 2
    assert len(harness.telegram.sent_to(harness.chat, "photo")) == 1


async def test_blocked_chat_ends_the_job_undelivered_and_refunds(harness: Harness) -> None:
    user = await harness.user(balance=3)
    harness.telegram.script("sendPhoto").push(blocked())
    ticket = await harness.client.submit(await harness.request(user))

    await harness.drain()

    job = await harness.job(ticket.job_id)
    assert (job.status, job.error_code, job.attempts) == ("failed", "undelivered", 1)
    assert job.delivered_at is None
    assert await harness.balance(user) == 3
    assert await harness.ledger_keys(ticket.job_id) == [f"job:{ticket.job_id}", f"refund:{ticket.job_id}"]
    assert harness.telegram.calls.count("sendPhoto") == 1  # never retried


async def test_a_chat_blocked_before_the_work_costs_no_engine_time(harness: Harness) -> None:
    user = await harness.user(balance=3)
    ticket = await harness.client.submit(await harness.request(user))
    harness.telegram.script("editMessageText").push(blocked())  # the "working" edit finds the block

    await harness.drain()

    job = await harness.job(ticket.job_id)
    assert (job.status, job.error_code) == ("failed", "undelivered")
    assert harness.engine.swaps == 0
    assert await harness.balance(user) == 3


async def test_cancel_a_waiting_job_refunds_once_and_it_never_runs(harness: Harness) -> None:
    user = await harness.user(balance=3)
    request = await harness.request(user)
    ticket = await harness.client.submit(request)
    assert await harness.balance(user) == 2

    assert await harness.client.cancel(ticket.job_id) is Cancel.CANCELLED
    assert await harness.client.cancel(ticket.job_id) is Cancel.ENDED  # already cancelled: nothing more
    assert await harness.transport.position(ticket.job_id) is None

    await harness.drain()

    job = await harness.job(ticket.job_id)
    assert (job.status, job.attempts) == ("cancelled", 0)
    assert harness.engine.swaps == 0
    assert await harness.balance(user) == 3
    assert await harness.ledger_keys(ticket.job_id) == [f"job:{ticket.job_id}", f"refund:{ticket.job_id}"]
    assert (
        harness.telegram.text_of(harness.chat, request.delivery.message)
        == "Cancelled. Your credits were refunded."
    )


async def test_not_enough_credits_writes_nothing(harness: Harness) -> None:
    user = await harness.user(balance=1)
    request = await harness.request(user, cost=2)
    with pytest.raises(InsufficientCredits):
        await harness.client.submit(request)
    async with harness.db.session() as session:
        assert list(await session.scalars(select(Job).where(Job.user_id == user))) == []
    assert await harness.balance(user) == 1
    assert await harness.transport.position("swap:unknown") is None


async def test_queue_positions_count_waiting_jobs_in_order(harness: Harness) -> None:
    user = await harness.user(balance=10)
    tickets = []
    for _ in range(3):
        tickets.append(await harness.client.submit(await harness.request(user)))
    assert [t.position for t in tickets] == [1, 2, 3]
    assert await harness.client.cancel(tickets[0].job_id) is Cancel.CANCELLED
    assert await harness.transport.position(tickets[2].job_id) == 2

    await harness.drain()

    statuses = [(await harness.job(t.job_id)).status for t in tickets]
    assert statuses == ["cancelled", "succeeded", "succeeded"]
    assert await harness.transport.position(tickets[1].job_id) is None


async def test_a_stored_result_is_sent_again_without_engine_work(harness: Harness) -> None:
    user = await harness.user(balance=3)
    ticket = await harness.client.submit(await harness.request(user))
    await harness.drain()
    first = harness.telegram.sent_to(harness.chat, "photo")
    assert len(first) == 1

    assert await harness.client.resend(ticket.job_id) is True

    photos = harness.telegram.sent_to(harness.chat, "photo")
    assert len(photos) == 2 and photos[1].file_id == first[0].file_id and photos[1].data is None
    assert harness.engine.swaps == 1
    assert await harness.balance(user) == 2
