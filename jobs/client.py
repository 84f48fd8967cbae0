"""The bot's side of the queue: submit a request, see its place, cancel it, send a result again.

Submitting writes the debit and the job row in one transaction and enqueues after the commit: a job
exists only if it is paid for, and a job the transport did not take (Redis down) is still queued in
the database, where the sweeper finds it.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import StrEnum

import structlog

from db import jobs as db_jobs
from db.errors import DeliveryUnderway, InvalidTransition, JobNotFound
from db.jobs import Delivery
from db.models import Job, JobStatus, User
from db.session import Database
from jobs import texts as codes
from jobs.notify import Target
from jobs.notify.teller import Teller
from jobs.request import JobRequest, generation_id, job_id
from jobs.transport import Transport

log = structlog.get_logger("jobs.client")

# Asking again after a job ended without a result makes a new job; this many such rounds at most.
MAX_GENERATIONS = 100


@dataclass(frozen=True, slots=True)
class Ticket:
    """``position``: 1-based place among waiting jobs, None once running or finished. ``created`` is
    False when the same request was already there: nothing was charged again."""

    job_id: str
    position: int | None
    created: bool
    status: str


class Cancel(StrEnum):
    """What ``JobClient.cancel`` did."""

    CANCELLED = "cancelled"  # stopped and refunded: nothing will be delivered
    ENDED = "ended"  # it had already finished (or was cancelled before): nothing changed
    ON_ITS_WAY = "on_its_way"  # its result is being delivered: it stays paid for (db.jobs docstring)


class JobClient:
    def __init__(self, db: Database, transport: Transport, *, teller: Teller) -> None:
        self.db = db
        self.transport = transport
        self.teller = teller

    async def submit(self, request: JobRequest) -> Ticket:
        """Queue ``request`` and charge for it, once however often it is submitted.

        Raises ``db.errors.InsufficientCredits`` (nothing written) when the user cannot pay.
        """
        base = job_id(request)
        async with self.db.transaction() as session:
            # A failed, cancelled or purged job was refunded or cleaned up: asking again is a new job
            # (the next generation of the id). A queued, running or succeeded one is this request.
            for generation in range(1, MAX_GENERATIONS + 1):
                job, created = await db_jobs.create(
                    session,
                    job_id=generation_id(base, generation),
                    user_id=request.user_id,
                    kind=request.kind,
                    cost=request.cost,
                    params=request.params,
                    inputs=request.inputs_json(),
                    delivery=request.delivery,
                )
                if created or not _spent(job):
                    break
            else:
                raise ValueError(f"request {base} was asked for {MAX_GENERATIONS} times")
            job_id_ = job.id
            user = (
                await session.get(User, request.user_id)
                if created and self.teller.reaches(request.delivery)
                else None
            )
        if created:
            try:
                await self.transport.enqueue(job_id_)
            except Exception as exc:  # the sweeper enqueues it from the database
                log.warning("enqueue failed; the sweeper will retry", job_id=job_id_, error=repr(exc))
        position = await self._position(job_id_) if job.status == JobStatus.QUEUED.value else None
        if created:
            await self.teller.status(Target.of(job, user), codes.QUEUED, position=position)
        return Ticket(job_id_, position, created, job.status)

    async def cancel(self, job_id_: str, *, user_id: int | None = None) -> Cancel:
        """Cancel a queued or running job and refund it, unless it has ended or its delivery has begun.

        With ``user_id``, only that user's job can be cancelled (others look like no job at all). The
        refusal of a job being delivered is decided by the same UPDATE that would cancel it, so the
        worker's start of the delivery and this cancel cannot both win.
        """
        async with self.db.transaction() as session:
            job = await db_jobs.get(session, job_id_)
            if user_id is not None and job.user_id != user_id:
                raise JobNotFound(job_id_)
            try:
                job = await db_jobs.cancel(session, job_id_)
            except DeliveryUnderway:
                return Cancel.ON_ITS_WAY
            except InvalidTransition:
                return Cancel.ENDED
            user = await session.get(User, job.user_id)
        try:
            if not await self.transport.remove(job_id_):
                await self.transport.abort(job_id_)  # not waiting any more: a worker has it
        except Exception as exc:  # a worker that starts it finds it cancelled and skips it
            log.warning("could not take the job off the queue", job_id=job_id_, error=repr(exc))
        await self.teller.status(Target.of(job, user), codes.CANCELLED, refunded=job.cost > 0)
        return Cancel.CANCELLED

    async def resend(self, job_id_: str, delivery: Delivery | None = None) -> bool:
        """Send a succeeded job's stored result again (to ``delivery``, default its own chat) without
        any GPU work; False when there is nothing stored to send (not succeeded, or purged)."""
        async with self.db.session() as session:
            job = await db_jobs.get(session, job_id_)
            user = await session.get(User, job.user_id)
        if job.status != JobStatus.SUCCEEDED.value or job.result_ref is None:
            return False
        target = Target.of(job, user)
        if target is not None and delivery is not None:
            target = replace(target, delivery=delivery)
        notifier = self.teller.notifier(target)
        if target is None or notifier is None or target.delivery.platform != job.deliver_platform:
            return False  # a stored reference only means something on the platform that made it
        await notifier.resend(target, job.result_ref, "")
        return True

    async def _position(self, job_id_: str) -> int | None:
        try:
            return await self.transport.position(job_id_)
        except Exception as exc:  # the chat just gets no number
            log.warning("queue position unavailable", job_id=job_id_, error=repr(exc))
            return None


def _spent(job: Job) -> bool:
    status = JobStatus(job.status)
    return status in (JobStatus.FAILED, JobStatus.CANCELLED) or job.purged_at is not None
