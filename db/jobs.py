"""Jobs: created with their debit in one transaction, moved only along ``TRANSITIONS``.

Every move is a compare-and-set (``UPDATE ... WHERE id = :id AND status = :expected``), so two workers
(or a worker and the sweeper) can never both move a job; the loser gets ``InvalidTransition``.
A failed or cancelled job is refunded in the same transaction as its move, exactly once
(ledger key ``refund:<id>``); a retry (running -> queued) keeps the debit.

Cancel versus delivery: a result that reached the chat is paid for, and a refunded job never delivers.
Both are decided by one row. The worker's ``begin_delivery`` (renew the lease and set ``delivering_at``,
only while the job runs for it) and ``cancel`` (only while ``delivering_at`` is unset) are each one
conditional UPDATE of the job's row, so the database orders them: either the cancel commits first (the
worker's ``begin_delivery`` then finds the job cancelled and sends nothing), or the delivery has begun
(the cancel is refused with ``DeliveryUnderway``: the result is on its way and stays paid for). We chose
"a delivery that has started cannot be cancelled" over a cancel flag the worker checks: the flag still
needs a last check before the upload, and an upload already in flight cannot be called back from the
chat, so refusing the cancel is the only answer that is always true.

A photo with several faces, sent without saying which, ends as ``needs_choice`` (``await_choice``): the
worker sent its numbered preview, kept its faces, and its debit goes back in the same savepoint, so
nothing is charged until a face is chosen. The choice is a new job (paid then) that reuses the faces.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import literal, or_, select, tuple_, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from db import analyses, ledger
from db.base import UtcDateTime, utcnow
from db.errors import DeliveryUnderway, InvalidTransition, JobNotFound, NotRefundable
from db.ledger import Posting
from db.models import Job, JobKind, JobStatus, Reason
from db.sql import insert_ignore_loading

QUEUED, RUNNING = JobStatus.QUEUED, JobStatus.RUNNING
SUCCEEDED, FAILED, CANCELLED = JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED
NEEDS_CHOICE = JobStatus.NEEDS_CHOICE

# The only moves a job can make. Terminal states have none.
TRANSITIONS: dict[JobStatus, frozenset[JobStatus]] = {
    QUEUED: frozenset({RUNNING, CANCELLED}),
    RUNNING: frozenset({SUCCEEDED, FAILED, CANCELLED, QUEUED, NEEDS_CHOICE}),
    SUCCEEDED: frozenset(),
    FAILED: frozenset(),
    CANCELLED: frozenset(),
    NEEDS_CHOICE: frozenset(),
}
TERMINAL = frozenset({SUCCEEDED, FAILED, CANCELLED, NEEDS_CHOICE})
REFUNDED = frozenset({FAILED, CANCELLED, NEEDS_CHOICE})  # the statuses whose debit goes back


def debit_key(job_id: str) -> str:
    return f"job:{job_id}"


def refund_key(job_id: str) -> str:
    return f"refund:{job_id}"


@dataclass(frozen=True, slots=True)
class Delivery:
    """Where the result goes: the chat, the message to answer, and Discord's interaction token."""

    platform: str
    chat: str
    message: str | None = None
    token: str | None = None
    token_expires_at: datetime | None = None


def delivery_of(job: Job) -> Delivery | None:
    if job.deliver_platform is None or job.deliver_chat is None:
        return None
    return Delivery(
        job.deliver_platform,
        job.deliver_chat,
        job.deliver_message,
        job.deliver_token,
        job.deliver_token_expires_at,
    )


@dataclass(frozen=True, slots=True)
class Purged:
    """What retention (or /forget) dropped from a job, so the caller can delete the stored files."""

    job_id: str
    inputs: dict[str, Any] | None
    result_ref: str | None


def check_transition(job_id: str, current: JobStatus | str, target: JobStatus | str) -> None:
    if JobStatus(target) not in TRANSITIONS[JobStatus(current)]:
        raise InvalidTransition(job_id, str(current), str(target))


async def create(
    session: AsyncSession,
    *,
    job_id: str,
    user_id: int,
    kind: JobKind | str,
    cost: int,
    params: Mapping[str, Any] | None = None,
    inputs: Mapping[str, Any] | None = None,
    delivery: Delivery | None = None,
    now: datetime | None = None,
) -> tuple[Job, bool]:
    """Queue a job and debit ``cost`` in one savepoint; returns the job and whether it is new.

    An existing id returns that job untouched (the same request twice is one job). Raises
    ``InsufficientCredits`` (and writes nothing) when the user cannot pay.
    """
    if cost < 0:
        raise ValueError("cost must be >= 0")
    now = now or utcnow()
    values: dict[str, Any] = {
        "id": job_id,
        "user_id": user_id,
        "kind": JobKind(kind).value,
        "status": QUEUED.value,
        "params": dict(params) if params is not None else None,
        "inputs": dict(inputs) if inputs is not None else None,
        "cost": cost,
        "attempts": 0,
        "created_at": now,
        "updated_at": now,
        "queued_at": now,
    }
    if delivery is not None:
        values |= {
            "deliver_platform": delivery.platform,
            "deliver_chat": delivery.chat,
            "deliver_message": delivery.message,
            "deliver_token": delivery.token,
            "deliver_token_expires_at": delivery.token_expires_at,
        }
    # No look first: a new id (the common case) is one INSERT that returns the row; an existing one
    # inserts nothing, debits nothing, and is read after.
    async with session.begin_nested():
        job = await session.scalar(insert_ignore_loading(session, Job, ["id"]), values)
        if job is not None and cost > 0:
            await ledger.post(
                session, user_id=user_id, delta=-cost, reason=Reason.JOB, key=debit_key(job_id), now=now
            )
    if job is None:
        return await get(session, job_id), False
    return job, True


async def get_or_none(session: AsyncSession, job_id: str) -> Job | None:
    return await session.get(Job, job_id, populate_existing=True)


async def get(session: AsyncSession, job_id: str) -> Job:
    job = await get_or_none(session, job_id)
    if job is None:
        raise JobNotFound(job_id)
    return job


async def start(
    session: AsyncSession, job_id: str, *, worker_id: str, lease: timedelta, now: datetime | None = None
) -> Job:
    """queued -> running for ``worker_id``, holding a lease until ``now + lease``; counts the attempt."""
    now = now or utcnow()
    return await _move(
        session,
        job_id,
        {QUEUED},
        RUNNING,
        now,
        worker_id=worker_id,
        started_at=now,
        heartbeat_at=now,
        locked_until=now + lease,
        delivering_at=None,
        attempts=Job.attempts + 1,
    )


async def begin_delivery(
    session: AsyncSession, job_id: str, *, worker_id: str, lease: timedelta, now: datetime | None = None
) -> bool:
    """The worker is about to send the result: extend its lease through the delivery and mark the job as
    being delivered, in one statement, only while it still runs for ``worker_id`` and was not cancelled.
    False: the job is no longer ours (cancelled, taken over, forgotten), and nothing may be sent. Once
    this commits, ``cancel`` refuses the job (module docstring)."""
    now = now or utcnow()
    moved = await session.scalar(
        update(Job)
        .where(Job.id == job_id, Job.status == RUNNING.value, Job.worker_id == worker_id)
        .values(heartbeat_at=now, locked_until=now + lease, delivering_at=now, updated_at=now)
        .returning(Job.id)
        .execution_options(synchronize_session=False)
    )
    return moved is not None


def result_message_of(ref: str | None) -> str | None:
    """The message id a result reference carries after its ``#`` (``photo:<file id>#<message id>``)."""
    if ref is None:
        return None
    _, sep, message = ref.rpartition("#")
    return message if sep and message.isdecimal() else None


async def succeed(
    session: AsyncSession,
    job_id: str,
    *,
    result_ref: str | None = None,
    worker_id: str | None = None,
    delivered: bool = False,
    now: datetime | None = None,
) -> Job:
    """running -> succeeded. With ``worker_id``, only the worker holding the job may finish it. A
    ``result_ref`` ending in ``#<message id>`` names the message that carried the result: kept in
    ``result_message`` (a report on that message finds the job) after the ref itself is purged.
    ``delivered``: the result already reached the chat; ``delivered_at`` is set by the same statement
    (what ``mark_delivered`` would do next: a running job has never been marked)."""
    now = now or utcnow()
    return await _move(
        session,
        job_id,
        {RUNNING},
        SUCCEEDED,
        now,
        expected_worker=worker_id,
        result_ref=result_ref,
        result_message=result_message_of(result_ref),
        finished_at=now,
        locked_until=None,
        **_delivered(delivered, now),
    )


async def fail(
    session: AsyncSession,
    job_id: str,
    *,
    code: str,
    text: str = "",
    worker_id: str | None = None,
    lapsed_before: datetime | None = None,
    now: datetime | None = None,
) -> Job:
    """running -> failed, refunding the debit in the same savepoint. ``lapsed_before``: only when the
    worker's lease ran out before that time (the sweeper), checked in the same statement."""
    now = now or utcnow()
    async with session.begin_nested():
        job = await _move(
            session,
            job_id,
            {RUNNING},
            FAILED,
            now,
            expected_worker=worker_id,
            lapsed_before=lapsed_before,
            error_code=code,
            error_text=text,
            finished_at=now,
            locked_until=None,
        )
        await refund(session, job_id, now=now)
    return job


async def await_choice(
    session: AsyncSession,
    job_id: str,
    *,
    result_ref: str | None = None,
    worker_id: str | None = None,
    delivered: bool = False,
    now: datetime | None = None,
) -> Job:
    """running -> needs_choice, refunding the debit in the same savepoint: the photo has several faces
    and none was chosen. ``result_ref``: the numbered preview that asks which (module docstring)."""
    now = now or utcnow()
    async with session.begin_nested():
        job = await _move(
            session,
            job_id,
            {RUNNING},
            NEEDS_CHOICE,
            now,
            expected_worker=worker_id,
            result_ref=result_ref,
            result_message=result_message_of(result_ref),
            finished_at=now,
            locked_until=None,
            **_delivered(delivered, now),
        )
        await refund(session, job_id, now=now)
    return job


async def retry(
    session: AsyncSession,
    job_id: str,
    *,
    code: str,
    text: str = "",
    worker_id: str | None = None,
    lapsed_before: datetime | None = None,
    now: datetime | None = None,
) -> Job:
    """running -> queued for another attempt (a transient error or a dead worker); keeps the debit.
    ``lapsed_before`` as for ``fail``. A delivery that had begun is over: the job can be cancelled again."""
    now = now or utcnow()
    return await _move(
        session,
        job_id,
        {RUNNING},
        QUEUED,
        now,
        expected_worker=worker_id,
        lapsed_before=lapsed_before,
        error_code=code,
        error_text=text,
        queued_at=now,
        worker_id=None,
        locked_until=None,
        delivering_at=None,
    )


async def cancel(
    session: AsyncSession,
    job_id: str,
    *,
    code: str = "cancelled",
    text: str = "",
    only_queued: bool = False,
    now: datetime | None = None,
) -> Job:
    """queued or running -> cancelled, refunding the debit in the same savepoint. ``only_queued``: a job
    that has started meanwhile is left alone (``InvalidTransition``). A running job whose delivery has
    begun is refused with ``DeliveryUnderway`` (module docstring), in the same statement."""
    now = now or utcnow()
    async with session.begin_nested():
        job = await _move(
            session,
            job_id,
            {QUEUED} if only_queued else {QUEUED, RUNNING},
            CANCELLED,
            now,
            not_delivering=True,
            error_code=code,
            error_text=text,
            finished_at=now,
            locked_until=None,
        )
        await refund(session, job_id, now=now)
    return job


async def refund(session: AsyncSession, job_id: str, *, now: datetime | None = None) -> Posting | None:
    """Give a failed, cancelled or needs-choice job's credits back, exactly once however often asked.

    Returns None when nothing was debited (a free job). The amount is the debit's, not today's price.
    """
    status = await session.scalar(select(Job.status).where(Job.id == job_id))
    if status is None:
        raise JobNotFound(job_id)
    if JobStatus(status) not in REFUNDED:
        raise NotRefundable(job_id, status)
    debit = await ledger.find(session, debit_key(job_id))
    if debit is None or debit.user_id is None:
        return None
    return await ledger.post(
        session,
        user_id=debit.user_id,
        delta=-debit.delta,
        reason=Reason.REFUND,
        key=refund_key(job_id),
        now=now,
    )


async def mark_delivered(session: AsyncSession, job_id: str, *, now: datetime | None = None) -> bool:
    """Record that the outcome reached the chat; True only the first time (so it is sent once)."""
    now = now or utcnow()
    marked = await session.scalar(
        update(Job)
        .where(Job.id == job_id, Job.delivered_at.is_(None), Job.status.in_([s.value for s in TERMINAL]))
        .values(delivered_at=now, updated_at=now)
        .returning(Job.id)
        .execution_options(synchronize_session=False)
    )
    if marked is None and await get_or_none(session, job_id) is None:
        raise JobNotFound(job_id)
    return marked is not None


async def queued_before(
    session: AsyncSession, cutoff: datetime, *, limit: int = 100, after: tuple[datetime, str] | None = None
) -> list[Job]:
    """Jobs waiting since before ``cutoff``, oldest first (e.g. lost from the queue: enqueue them again).

    ``after``: the ``(queued_at, id)`` of the last job of the previous page, to read the next page.
    """
    return await _queued_page(session, Job.queued_at, cutoff, limit, after)


async def queued_created_before(
    session: AsyncSession, cutoff: datetime, *, limit: int = 100, after: tuple[datetime, str] | None = None
) -> list[Job]:
    """Jobs still waiting that were asked for before ``cutoff`` (however often they were retried), oldest
    first: stale, to be cancelled. ``after``: the ``(created_at, id)`` of the previous page's last job.
    The status narrows the scan to the queue (the status/queued_at index), never the whole history."""
    return await _queued_page(session, Job.created_at, cutoff, limit, after)


async def _queued_page(
    session: AsyncSession,
    column: InstrumentedAttribute[datetime],
    cutoff: datetime,
    limit: int,
    after: tuple[datetime, str] | None,
) -> list[Job]:
    """Queued jobs with ``column`` before ``cutoff``, keyset-paged by ``(column, id)``."""
    where = [Job.status == QUEUED.value, column < cutoff]
    if after is not None:
        where.append(tuple_(column, Job.id) > tuple_(literal(after[0], UtcDateTime()), literal(after[1])))
    rows = await session.scalars(
        select(Job)
        .where(*where)
        .order_by(column, Job.id)
        .limit(limit)
        .execution_options(populate_existing=True)
    )
    return list(rows)


async def lease_expired(session: AsyncSession, now: datetime | None = None, *, limit: int = 100) -> list[Job]:
    """Running jobs whose worker stopped renewing its lease: the sweeper retries or fails them."""
    return await _list(
        session,
        Job.status == RUNNING.value,
        Job.locked_until < (now or utcnow()),
        order=Job.locked_until,
        limit=limit,
    )


async def for_user(session: AsyncSession, user_id: int, *, limit: int = 20) -> list[Job]:
    return await _list(session, Job.user_id == user_id, order=Job.created_at.desc(), limit=limit)


async def purge_before(
    session: AsyncSession, cutoff: datetime, *, now: datetime | None = None, limit: int = 500
) -> list[Purged]:
    """Retention: drop parameters, input references, results, tokens and analysed faces of finished
    jobs created before ``cutoff``. Returns what was dropped so the caller can delete the stored files.
    The job row itself stays (status, cost and times), as do saved faces, which live until /forget."""
    now = now or utcnow()
    rows = (
        await session.execute(
            select(Job.id, Job.inputs, Job.result_ref)
            .where(
                Job.created_at < cutoff, Job.purged_at.is_(None), Job.status.in_([s.value for s in TERMINAL])
            )
            .order_by(Job.created_at)
            .limit(limit)
        )
    ).all()
    if not rows:
        return []
    ids = [r.id for r in rows]
    await analyses.delete_for_jobs(session, ids)
    await session.execute(
        update(Job)
        .where(Job.id.in_(ids))
        .values(
            params=None,
            inputs=None,
            result_ref=None,
            deliver_token=None,
            error_text=None,
            purged_at=now,
            updated_at=now,
        )
        .execution_options(synchronize_session="fetch")
    )
    return [Purged(r.id, r.inputs, r.result_ref) for r in rows]


def _delivered(delivered: bool, now: datetime) -> dict[str, Any]:
    """``delivered_at`` set by the move itself, for an outcome that already reached the chat."""
    return {"delivered_at": now} if delivered else {}


async def _list(session: AsyncSession, *where: Any, order: Any, limit: int) -> list[Job]:
    rows = await session.scalars(
        select(Job).where(*where).order_by(order).limit(limit).execution_options(populate_existing=True)
    )
    return list(rows)


async def _move(
    session: AsyncSession,
    job_id: str,
    expected: Collection[JobStatus],
    target: JobStatus,
    now: datetime,
    *,
    expected_worker: str | None = None,
    lapsed_before: datetime | None = None,
    not_delivering: bool = False,
    **values: Any,
) -> Job:
    """The one place a status changes: validate against TRANSITIONS, then compare-and-set. Every
    condition is in the UPDATE itself, so nothing read earlier can be stale by the time it is applied."""
    for current in expected:
        check_transition(job_id, current, target)
    where = [Job.id == job_id, Job.status.in_([s.value for s in expected])]
    if expected_worker is not None:  # a worker whose lease was taken over must not finish the job
        where.append(Job.worker_id == expected_worker)
    if lapsed_before is not None:  # a worker that renewed its lease meanwhile keeps the job
        where.append(Job.locked_until < lapsed_before)
    if not_delivering:  # a result on its way stays paid for
        where.append(or_(Job.status != RUNNING.value, Job.delivering_at.is_(None)))
    job = await session.scalar(
        update(Job)
        .where(*where)
        .values(status=target.value, updated_at=now, **values)
        .returning(Job)
        .execution_options(populate_existing=True)
    )
    if job is None:
        row = (
            await session.execute(select(Job.status, Job.delivering_at).where(Job.id == job_id))
        ).one_or_none()
        if row is None:
            raise JobNotFound(job_id)
        if not_delivering and row.status == RUNNING.value and row.delivering_at is not None:
            raise DeliveryUnderway(job_id)
        raise InvalidTransition(job_id, row.status, target.value)
    return job
