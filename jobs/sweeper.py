"""The crons: the sweeper (nothing lost) and retention cleanup (nothing kept too long).

Sweep: a queued job that has waited longer than ``queued_max_age_s`` since it was asked for is
cancelled, refunded, taken off the transport, and the chat is told. A running job whose lease ran out
lost its worker: it is queued again (or failed and refunded when it has used its tries) and handed to
the transport. A queued job older than ``lost_after_s`` that the transport does not have (Redis
flushed, enqueue failed, process restarted) is enqueued again. Every move is the database's
compare-and-set, so several sweepers, or a sweeper racing a worker that was only slow, cannot move a
job twice.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import structlog

from db import jobs as db_jobs
from db import payments as db_payments
from db.base import utcnow
from db.errors import InvalidTransition, JobNotFound
from db.jobs import Purged
from db.models import Job, User
from db.session import Database
from jobs import texts as codes
from jobs.config import QueueConfig
from jobs.notify import Target
from jobs.notify.teller import Teller
from jobs.transport import Transport

log = structlog.get_logger("jobs.sweeper")

PAGE = 200
WORKER_LOST = "worker_lost"
EXPIRED = "expired"  # waited in the queue past queued_max_age_s: cancelled and refunded


@dataclass
class SweepReport:
    requeued: list[str] = field(default_factory=list)  # running jobs of dead workers, queued again
    failed: list[str] = field(default_factory=list)  # the same, out of tries: failed and refunded
    enqueued: list[str] = field(default_factory=list)  # queued jobs the transport had lost
    expired: list[str] = field(default_factory=list)  # queued too long: cancelled and refunded


class Sweeper:
    def __init__(
        self,
        db: Database,
        transport: Transport,
        config: QueueConfig,
        *,
        teller: Teller,
    ) -> None:
        self.db = db
        self.transport = transport
        self.config = config
        self.teller = teller

    async def sweep(self, now: datetime | None = None, *, lost_after_s: float | None = None) -> SweepReport:
        """One round. ``lost_after_s`` overrides the configured age for queued jobs (0 at start-up of the
        in-process runner: everything still queued in the database belongs in the new, empty queue)."""
        now = now or utcnow()
        report = SweepReport()
        # Stale jobs first: one about to be cancelled must not be handed to the workers below.
        await self._expire(now - timedelta(seconds=self.config.queued_max_age_s), report)
        async with self.db.session() as session:
            lapsed = await db_jobs.lease_expired(session, now, limit=PAGE)
        for job in lapsed:
            await self._take_back(job, now, report)
        # Queued jobs the transport lost, oldest first, a page at a time. Most are still waiting in the
        # transport; ``ensure`` checks a whole page in one round trip.
        lost_after = self.config.lost_after_s if lost_after_s is None else lost_after_s
        cutoff = now - timedelta(seconds=lost_after)
        after: tuple[datetime, str] | None = None
        while True:
            async with self.db.session() as session:
                page = await db_jobs.queued_before(session, cutoff, limit=PAGE, after=after)
            report.enqueued += await self.transport.ensure([job.id for job in page])
            if len(page) < PAGE:
                break
            after = (page[-1].queued_at, page[-1].id)
        if report.requeued or report.failed or report.enqueued or report.expired:
            log.info(
                "swept",
                requeued=len(report.requeued),
                failed=len(report.failed),
                enqueued=len(report.enqueued),
                expired=len(report.expired),
            )
        return report

    async def cleanup(self, now: datetime | None = None) -> list[Purged]:
        """Drop inputs, results and parameters of jobs older than the retention; delete our own files.
        Also drop Stripe reversals held for a payment that never came (db.payments.HELD_FOR)."""
        now = now or utcnow()
        async with self.db.transaction() as session:
            dropped = await db_payments.drop_unmatched_held(session, now)
        if dropped:
            log.info("unmatched stripe reversals dropped", count=dropped)
        cutoff = now - timedelta(hours=self.config.retention_hours)
        purged: list[Purged] = []
        while True:
            async with self.db.transaction() as session:
                page = await db_jobs.purge_before(session, cutoff, limit=PAGE)
            purged += page
            for item in page:
                await asyncio.to_thread(self._delete_files, item)
            if len(page) < PAGE:
                break
        if purged:
            log.info("retention cleanup", jobs=len(purged))
        return purged

    async def _take_back(self, job: Job, now: datetime, report: SweepReport) -> None:
        """Retry (or fail) a job whose lease had run out when it was listed. The move re-checks the lease
        in its own statement: a worker that renewed it since (to deliver) keeps the job."""
        out_of_tries = job.attempts >= self.config.max_tries
        move = db_jobs.fail if out_of_tries else db_jobs.retry
        try:
            async with self.db.transaction() as session:
                job = await move(
                    session,
                    job.id,
                    code=WORKER_LOST,
                    text="the worker stopped",
                    worker_id=job.worker_id,
                    lapsed_before=now,
                )
                user = await session.get(User, job.user_id)
        except (InvalidTransition, JobNotFound):
            return  # the worker was only slow and finished, or the job was cancelled
        if out_of_tries:
            report.failed.append(job.id)
            await self.teller.ending(
                Target.of(job, user), codes.FAILED, reason=WORKER_LOST, refunded=job.cost > 0
            )
            return
        report.requeued.append(job.id)
        await self.transport.release(job.id)
        await self.transport.ensure([job.id])

    async def _expire(self, cutoff: datetime, report: SweepReport) -> None:
        """Cancel and refund the jobs asked for before ``cutoff`` that are still waiting, a page at a time.
        A page is read, then each job moved by compare-and-set: another sweeper (or a worker starting it)
        may win any one of them, and it is then skipped here."""
        after: tuple[datetime, str] | None = None
        while True:
            async with self.db.session() as session:
                page = await db_jobs.queued_created_before(session, cutoff, limit=PAGE, after=after)
            for job in page:
                await self._cancel_stale(job.id, report)
            if len(page) < PAGE:
                return
            after = (page[-1].created_at, page[-1].id)

    async def _cancel_stale(self, job_id: str, report: SweepReport) -> None:
        try:
            async with self.db.transaction() as session:
                job = await db_jobs.cancel(
                    session, job_id, code=EXPIRED, text="waited too long in the queue", only_queued=True
                )
                user = await session.get(User, job.user_id)
        except (InvalidTransition, JobNotFound):
            return  # started, cancelled or expired meanwhile
        report.expired.append(job_id)
        try:
            await self.transport.remove(job_id)
        except Exception as exc:  # a worker that picks it up finds it cancelled and skips it
            log.warning("could not take the job off the queue", job_id=job_id, error=repr(exc))
        await self.teller.ending(Target.of(job, user), codes.FAILED, reason=EXPIRED, refunded=job.cost > 0)

    def _delete_files(self, item: Purged) -> None:
        """Only files under the spool folder are ours; a path elsewhere belongs to whoever gave it."""
        spool = self.config.spool_dir
        if spool is None:
            return
        paths = [
            str(ref["ref"])
            for ref in (item.inputs or {}).values()
            if isinstance(ref, dict) and ref.get("kind") == "local" and ref.get("ref")
        ]
        if item.result_ref and item.result_ref.startswith("file:"):
            paths.append(item.result_ref.removeprefix("file:"))
        root = spool.resolve()
        for name in paths:
            path = Path(name).resolve()
            if path.is_relative_to(root):
                with contextlib.suppress(FileNotFoundError):
                    path.unlink()


class Crons:
    """Runs the sweeper and the cleanup every so often in this process, one process at a time across
    workers (a lease in the transport). Plain tasks rather than ARQ cron jobs: those would sit in the
    job queue, count in every queue position and keep a burst worker from ever finishing."""

    def __init__(self, sweeper: Sweeper, config: QueueConfig) -> None:
        self.sweeper = sweeper
        self.config = config
        self._tasks: list[asyncio.Task[None]] = []

    def start(self) -> None:
        if not self._tasks:
            self._tasks = [
                asyncio.create_task(self._every("sweep", self.config.sweep_interval_s, self.sweeper.sweep)),
                asyncio.create_task(
                    self._every("cleanup", self.config.cleanup_interval_s, self.sweeper.cleanup)
                ),
            ]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []

    async def _every(self, name: str, interval_s: float, action: Callable[[], Awaitable[object]]) -> None:
        while True:
            try:
                if await self.sweeper.transport.lease(name, interval_s * 0.9):
                    await action()
            except Exception:  # a failed round (database restarting) is retried next time
                log.exception("cron failed", cron=name)
            await asyncio.sleep(interval_s)
