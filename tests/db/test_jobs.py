"""Jobs: debit with creation, compare-and-set transitions, refunds exactly once, sweeper queries."""

from __future__ import annotations

import asyncio
import itertools
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from db import jobs, ledger
from db.errors import DeliveryUnderway, InsufficientCredits, InvalidTransition, JobNotFound, NotRefundable
from db.models import LedgerEntry
from db.session import Database
from tests.db.conftest import NewUser

STATES = ["queued", "running", "succeeded", "failed", "cancelled"]
# Written out here, independently of db.jobs.TRANSITIONS, so a wrong table fails these tests.
ALLOWED = {
    ("queued", "running"),
    ("queued", "cancelled"),
    ("running", "succeeded"),
    ("running", "failed"),
    ("running", "cancelled"),
    ("running", "queued"),
}
LEASE = timedelta(minutes=5)
# Tests that list jobs by time each live in their own past, away from every other test's jobs.
T0 = datetime(2001, 1, 1, tzinfo=UTC)
T1 = datetime(1991, 1, 1, tzinfo=UTC)


def _id() -> str:
    return f"swap:{uuid.uuid4().hex}"


async def _create(db: Database, user_id: int, cost: int = 1, job_id: str | None = None, **kw: object) -> str:
    job_id = job_id or _id()
    async with db.transaction() as session:
        await jobs.create(session, job_id=job_id, user_id=user_id, kind="swap", cost=cost, **kw)
    return job_id


async def _in_state(db: Database, user_id: int, state: str) -> str:
    job_id = await _create(db, user_id)
    async with db.transaction() as session:
        if state != "queued" and state != "cancelled":
            await jobs.start(session, job_id, worker_id="w", lease=LEASE)
        if state == "succeeded":
            await jobs.succeed(session, job_id, result_ref="file-1")
        elif state == "failed":
            await jobs.fail(session, job_id, code="no_face")
        elif state == "cancelled":
            await jobs.cancel(session, job_id)
    return job_id


ACTIONS = {
    "running": lambda s, j: jobs.start(s, j, worker_id="w2", lease=LEASE),
    "succeeded": lambda s, j: jobs.succeed(s, j, result_ref="file-2"),
    "failed": lambda s, j: jobs.fail(s, j, code="boom"),
    "queued": lambda s, j: jobs.retry(s, j, code="timeout"),
    "cancelled": lambda s, j: jobs.cancel(s, j),
}


def test_transition_table_is_exactly_the_allowed_moves() -> None:
    for current, target in itertools.product(STATES, STATES):
        if (current, target) in ALLOWED:
            jobs.check_transition("j", current, target)
        else:
            with pytest.raises(InvalidTransition):
                jobs.check_transition("j", current, target)


async def test_every_move_from_every_state(db: Database, new_user: NewUser) -> None:
    user_id = await new_user(balance=100)
    for current, target in itertools.product(STATES, STATES):
        if target == "queued" and current != "running":
            continue  # "queued" as a target is the retry action, defined from running only
        job_id = await _in_state(db, user_id, current)
        async with db.transaction() as session:
            if (current, target) in ALLOWED:
                job = await ACTIONS[target](session, job_id)
                assert job.status == target, (current, target)
            else:
                with pytest.raises(InvalidTransition) as caught:
                    await ACTIONS[target](session, job_id)
                assert (caught.value.current, caught.value.target) == (current, target)
                assert (await jobs.get(session, job_id)).status == current


async def test_unknown_job(db: Database) -> None:
    async with db.transaction() as session:
        with pytest.raises(JobNotFound):
            await jobs.start(session, "no-such-job", worker_id="w", lease=LEASE)


async def test_create_debits_once_and_the_same_request_is_one_job(db: Database, new_user: NewUser) -> None:
    user_id = await new_user(balance=10)
    job_id = _id()

    async def create() -> bool:
        async with db.transaction() as session:
            _, created = await jobs.create(
                session,
                job_id=job_id,
                user_id=user_id,
                kind="caricature",
                cost=3,
                params={"style": "pixar"},
                inputs={"photo": "tg:AAA"},
            )
            return created

    created = await asyncio.gather(*(create() for _ in range(10)))
    assert created.count(True) == 1
    async with db.session() as session:
        assert await ledger.balance(session, user_id) == 7
        job = await jobs.get(session, job_id)
    assert (job.status, job.cost, job.params, job.inputs, job.attempts) == (
        "queued",
        3,
        {"style": "pixar"},
        {"photo": "tg:AAA"},
        0,
    )


async def test_create_without_credits_writes_nothing(db: Database, new_user: NewUser) -> None:
    user_id = await new_user(balance=1)
    job_id = _id()
    async with db.transaction() as session:
        with pytest.raises(InsufficientCredits):
            await jobs.create(session, job_id=job_id, user_id=user_id, kind="swap", cost=2)
    async with db.session() as session:
        assert await jobs.get_or_none(session, job_id) is None
        assert await ledger.balance(session, user_id) == 1


async def test_retry_keeps_the_debit(db: Database, new_user: NewUser) -> None:
    user_id = await new_user(balance=5)
    job_id = await _create(db, user_id, cost=2)
    async with db.transaction() as session:
        await jobs.start(session, job_id, worker_id="w1", lease=LEASE)
        job = await jobs.retry(session, job_id, code="timeout", text="stylizer timed out")
        assert (job.status, job.attempts, job.worker_id, job.error_code) == ("queued", 1, None, "timeout")
        job = await jobs.start(session, job_id, worker_id="w2", lease=LEASE)
        assert (job.attempts, job.worker_id) == (2, "w2")
        await jobs.succeed(session, job_id, result_ref="tg:result")
        with pytest.raises(NotRefundable):
            await jobs.refund(session, job_id)
    async with db.session() as session:
        assert await ledger.balance(session, user_id) == 3
        assert await ledger.find(session, jobs.refund_key(job_id)) is None


async def test_cancel_refunds_once(db: Database, new_user: NewUser) -> None:
    user_id = await new_user(balance=5)
    job_id = await _create(db, user_id, cost=2)
    async with db.transaction() as session:
        job = await jobs.cancel(session, job_id)
        assert job.status == "cancelled" and job.finished_at is not None
        assert await ledger.balance(session, user_id) == 5
        again = await jobs.refund(session, job_id)
        assert again is not None and again.replayed and again.delta == 2
        with pytest.raises(InvalidTransition):
            await jobs.cancel(session, job_id)
    async with db.session() as session:
        assert await ledger.balance(session, user_id) == 5


async def test_cancelling_waiting_jobs_only_leaves_a_started_one(db: Database, new_user: NewUser) -> None:
    user_id = await new_user(balance=5)
    waiting, started = await _create(db, user_id), await _create(db, user_id)
    async with db.transaction() as session:
        await jobs.start(session, started, worker_id="w", lease=LEASE)
        with pytest.raises(InvalidTransition):
            await jobs.cancel(session, started, code="expired", only_queued=True)
        job = await jobs.cancel(session, waiting, code="expired", only_queued=True)
        assert (job.status, job.error_code) == ("cancelled", "expired")
        assert (await jobs.get(session, started)).status == "running"
        assert await ledger.find(session, jobs.refund_key(started)) is None
        assert await ledger.balance(session, user_id) == 4  # the waiting job's credit came back


async def test_racing_failures_and_refunds_refund_once(db: Database, new_user: NewUser) -> None:
    user_id = await new_user(balance=4)
    job_id = await _create(db, user_id, cost=3)
    async with db.transaction() as session:
        await jobs.start(session, job_id, worker_id="w1", lease=LEASE)

    async def attempt(action: str) -> str:
        async with db.transaction() as session:
            try:
                if action == "fail":
                    await jobs.fail(session, job_id, code="no_face")
                else:
                    await jobs.cancel(session, job_id)
            except InvalidTransition:
                return "lost"
        return "won"

    outcomes = await asyncio.gather(*(attempt(a) for a in ["fail", "cancel", "fail", "cancel"]))
    assert outcomes.count("won") == 1

    async def refund() -> bool:
        async with db.transaction() as session:
            posting = await jobs.refund(session, job_id)
            assert posting is not None
            return posting.replayed

    assert await asyncio.gather(refund(), refund()) == [True, True]
    async with db.session() as session:
        assert await ledger.balance(session, user_id) == 4
        refunds = select(func.count()).select_from(LedgerEntry).where(LedgerEntry.key == f"refund:{job_id}")
        assert await session.scalar(refunds) == 1


async def test_free_job_has_nothing_to_refund(db: Database, new_user: NewUser) -> None:
    user_id = await new_user()
    job_id = await _create(db, user_id, cost=0)
    async with db.transaction() as session:
        await jobs.cancel(session, job_id)
        assert await jobs.refund(session, job_id) is None


async def test_a_taken_over_worker_cannot_finish(db: Database, new_user: NewUser) -> None:
    user_id = await new_user(balance=1)
    job_id = await _create(db, user_id)
    async with db.transaction() as session:
        await jobs.start(session, job_id, worker_id="w1", lease=LEASE, now=T0)
        beat = T0 + timedelta(minutes=1)
        assert await jobs.begin_delivery(session, job_id, worker_id="w1", lease=LEASE, now=beat)
        job = await jobs.get(session, job_id)
        assert job.locked_until == T0 + timedelta(minutes=6)
        # w1 dies; the sweeper re-queues, w2 takes the job over.
        await jobs.retry(session, job_id, code="worker_lost")
        await jobs.start(session, job_id, worker_id="w2", lease=LEASE)
        assert (await jobs.get(session, job_id)).delivering_at is None  # the retry ended that delivery
        assert not await jobs.begin_delivery(session, job_id, worker_id="w1", lease=LEASE)
        with pytest.raises(InvalidTransition):
            await jobs.succeed(session, job_id, result_ref="stale", worker_id="w1")
        job = await jobs.succeed(session, job_id, result_ref="fresh", worker_id="w2")
    assert (job.status, job.result_ref, job.attempts) == ("succeeded", "fresh", 2)


async def test_a_delivery_that_has_begun_cannot_be_cancelled(db: Database, new_user: NewUser) -> None:
    user_id = await new_user(balance=3)
    job_id = await _create(db, user_id)
    async with db.transaction() as session:
        await jobs.start(session, job_id, worker_id="w1", lease=LEASE)
        assert not await jobs.begin_delivery(session, job_id, worker_id="w2", lease=LEASE)  # not w2's job
        assert (await jobs.get(session, job_id)).delivering_at is None
        assert await jobs.begin_delivery(session, job_id, worker_id="w1", lease=LEASE)
        with pytest.raises(DeliveryUnderway):
            await jobs.cancel(session, job_id)
        job = await jobs.get(session, job_id)
        assert (job.status, job.delivering_at is not None) == ("running", True)
        assert await ledger.find(session, jobs.refund_key(job_id)) is None
        await jobs.succeed(session, job_id, result_ref="photo:1#5", worker_id="w1")
        with pytest.raises(InvalidTransition) as ended:
            await jobs.cancel(session, job_id)
        assert not isinstance(ended.value, DeliveryUnderway)  # finished: an ordinary "too late"
    async with db.session() as session:
        assert await ledger.balance(session, user_id) == 2  # charged once, never refunded


async def test_a_cancel_before_the_delivery_stops_it(db: Database, new_user: NewUser) -> None:
    user_id = await new_user(balance=3)
    job_id = await _create(db, user_id)
    async with db.transaction() as session:
        await jobs.start(session, job_id, worker_id="w1", lease=LEASE)
        await jobs.cancel(session, job_id)
        assert not await jobs.begin_delivery(session, job_id, worker_id="w1", lease=LEASE)
        assert (await jobs.get(session, job_id)).status == "cancelled"
        assert await ledger.balance(session, user_id) == 3


async def test_cancel_and_begin_delivery_race_one_winner(db: Database, new_user: NewUser) -> None:
    """Many rounds of a cancel and the worker's begin_delivery at once, each in its own transaction:
    every round ends either delivering (not refunded) or cancelled (refunded once, nothing to send)."""
    user_id = await new_user(balance=40)
    outcomes: list[tuple[bool, str]] = []
    for _ in range(20):
        job_id = await _create(db, user_id)
        async with db.transaction() as session:
            await jobs.start(session, job_id, worker_id="w", lease=LEASE)

        async def deliver(job_id: str = job_id) -> bool:
            async with db.transaction() as session:
                return await jobs.begin_delivery(session, job_id, worker_id="w", lease=LEASE)

        async def cancel(job_id: str = job_id) -> str:
            try:
                async with db.transaction() as session:
                    await jobs.cancel(session, job_id)
            except DeliveryUnderway:
                return "on its way"
            return "cancelled"

        delivering, cancelled = await asyncio.gather(deliver(), cancel())
        outcomes.append((delivering, cancelled))
        async with db.session() as session:
            job = await jobs.get(session, job_id)
            refund = await ledger.find(session, jobs.refund_key(job_id))
        if delivering:
            assert (cancelled, job.status, refund) == ("on its way", "running", None)
        else:
            assert (cancelled, job.status) == ("cancelled", "cancelled") and refund is not None
    assert all(o in {(True, "on its way"), (False, "cancelled")} for o in outcomes)


async def test_the_sweeper_move_rechecks_the_lease(db: Database, new_user: NewUser) -> None:
    """A lease renewed after the sweeper listed the job (the worker began its delivery) keeps the job."""
    user_id = await new_user(balance=2)
    job_id = await _create(db, user_id)
    async with db.transaction() as session:
        await jobs.start(session, job_id, worker_id="w", lease=LEASE, now=T1)
        listed_at = T1 + timedelta(minutes=10)  # the lease ran out at T1 + 5 min
        assert job_id in [j.id for j in await jobs.lease_expired(session, listed_at, limit=1000)]
        assert await jobs.begin_delivery(session, job_id, worker_id="w", lease=LEASE, now=listed_at)
        for move in (jobs.retry, jobs.fail):
            with pytest.raises(InvalidTransition):
                await move(session, job_id, code="worker_lost", worker_id="w", lapsed_before=listed_at)
        assert (await jobs.get(session, job_id)).status == "running"
        assert await ledger.find(session, jobs.refund_key(job_id)) is None
        later = listed_at + timedelta(minutes=6)  # now the delivery's lease ran out too: the worker died
        job = await jobs.retry(session, job_id, code="worker_lost", worker_id="w", lapsed_before=later)
        assert (job.status, job.delivering_at) == ("queued", None)


async def test_sweeper_queries(db: Database, new_user: NewUser) -> None:
    user_id = await new_user(balance=10)
    old_queued = await _create(db, user_id, now=T0)
    new_queued = await _create(db, user_id, now=T0 + timedelta(hours=2))
    early_run, late_run = await _create(db, user_id, now=T0), await _create(db, user_id, now=T0)
    old_retried = await _create(db, user_id, now=T0 - timedelta(minutes=1))
    async with db.transaction() as session:
        await jobs.start(session, early_run, worker_id="a", lease=LEASE, now=T0)
        await jobs.start(session, late_run, worker_id="b", lease=LEASE, now=T0 + timedelta(hours=2))
        await jobs.start(session, old_retried, worker_id="c", lease=LEASE, now=T0)
        await jobs.retry(session, old_retried, code="network", now=T0 + timedelta(hours=2))
        cutoff = T0 + timedelta(hours=1)
        # Lost from the queue: by when it was last queued. Stale: by when it was asked for.
        assert [j.id for j in await jobs.queued_before(session, cutoff)] == [old_queued]
        stale = await jobs.queued_created_before(session, cutoff)
        assert [j.id for j in stale if j.user_id == user_id] == [old_retried, old_queued]
        assert [j.id for j in await jobs.lease_expired(session, T0 + timedelta(minutes=10))] == [early_run]
        assert {j.id for j in await jobs.for_user(session, user_id)} == {
            old_queued,
            new_queued,
            early_run,
            late_run,
            old_retried,
        }


@pytest.mark.parametrize("query", ["queued_before", "queued_created_before"])
async def test_queued_jobs_page_by_time_then_id(db: Database, new_user: NewUser, query: str) -> None:
    page_of = getattr(jobs, query)
    user_id = await new_user(balance=10)
    t = datetime(1981, 1, 1, tzinfo=UTC)  # a past of its own, away from other tests' jobs
    # Two jobs share a time: the id breaks the tie, so a page boundary between them loses neither.
    ids = [await _create(db, user_id, now=t + timedelta(minutes=m)) for m in (0, 1, 1, 2, 3)]
    expected = [ids[0], *sorted(ids[1:3]), ids[3], ids[4]]
    cutoff = t + timedelta(hours=1)
    seen: list[str] = []
    async with db.session() as session:
        after = None
        while True:
            page = await page_of(session, cutoff, limit=2, after=after)
            # Stale jobs have no lower bound in time: other tests' waiting jobs may come first.
            seen += [job.id for job in page if job.user_id == user_id]
            if len(page) < 2:
                break
            after = (page[-1].queued_at if query == "queued_before" else page[-1].created_at, page[-1].id)
    assert seen == expected


async def test_delivered_is_recorded_once_and_only_when_finished(db: Database, new_user: NewUser) -> None:
    user_id = await new_user(balance=1)
    job_id = await _create(db, user_id)
    async with db.transaction() as session:
        assert not await jobs.mark_delivered(session, job_id)
        await jobs.start(session, job_id, worker_id="w", lease=LEASE)
        await jobs.succeed(session, job_id, result_ref="tg:file")
        assert await jobs.mark_delivered(session, job_id)
        assert not await jobs.mark_delivered(session, job_id)
        with pytest.raises(JobNotFound):
            await jobs.mark_delivered(session, "missing")


async def test_retention_drops_inputs_results_and_parameters(db: Database, new_user: NewUser) -> None:
    user_id = await new_user(balance=10)
    later = T1 + timedelta(hours=30)
    delivery = jobs.Delivery("discord", chat="c1", message="m1", token="tok", token_expires_at=T1)
    old_done = await _create(db, user_id, now=T1, params={"p": 1}, inputs={"src": "a"}, delivery=delivery)
    old_queued = await _create(db, user_id, now=T1, params={"p": 2}, inputs={"src": "b"})
    recent = await _create(db, user_id, now=later, params={"p": 3}, inputs={"src": "c"})
    async with db.transaction() as session:
        for job_id in (old_done, recent):
            await jobs.start(session, job_id, worker_id="w", lease=LEASE, now=later)
            await jobs.succeed(session, job_id, result_ref=f"res-{job_id}", now=later)
        cutoff = T1 + timedelta(hours=24)
        purged = await jobs.purge_before(session, cutoff)
        assert purged == [jobs.Purged(old_done, {"src": "a"}, f"res-{old_done}")]
        assert await jobs.purge_before(session, cutoff) == []
        gone = await jobs.get(session, old_done)
        assert (gone.params, gone.inputs, gone.result_ref, gone.deliver_token) == (None, None, None, None)
        assert jobs.delivery_of(gone) == jobs.Delivery("discord", "c1", "m1", None, T1)
        assert jobs.delivery_of(await jobs.get(session, old_queued)) is None
        assert gone.status == "succeeded" and gone.purged_at is not None
        assert (await jobs.get(session, old_queued)).inputs == {"src": "b"}
        assert (await jobs.get(session, recent)).params == {"p": 3}
