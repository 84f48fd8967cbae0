"""One attempt at one job: the task function both queues run (ARQ workers and the in-process runner).

The database decides who works: ``start`` is a compare-and-set from queued, so a job handed out twice
(a duplicated enqueue, a queue that lost track) runs once. The attempt holds a lease for its timeout;
the result is delivered before the job is marked succeeded, and both happen only while this worker
still holds the job, so a cancelled or taken-over job never gets a second delivery from us. The
delivery begins with one statement that renews the lease and marks the job as being delivered
(``db.jobs.begin_delivery``): a /cancel that committed before it stops the delivery, and one after it
is refused, so a result that reaches the chat is always paid for and a refunded job never delivers.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import socket
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Literal

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from db import analyses, ledger
from db import jobs as db_jobs
from db.errors import DbError, InvalidTransition, JobNotFound
from db.models import Job, JobKind, SavedFace, User
from db.session import Database
from engine.face import Face
from engine.stored import StoredIdentity
from jobs import texts as codes
from jobs.analysis import stored_faces
from jobs.config import QueueConfig
from jobs.errors import DeliveryError, InputUnavailable, JobFailure, classify, error_params
from jobs.fetch import InputFetcher
from jobs.metrics import DELIVERIES, DELIVERY_RETRIES, JOBS, QUEUE_WAIT
from jobs.notify import Notifier, ShowsActivity, Target
from jobs.notify.teller import Teller
from jobs.operations import Operations, Output, Work
from jobs.request import InputRef
from jobs.results import Result

log = structlog.get_logger("jobs")

OutcomeStatus = Literal["succeeded", "failed", "retry", "skipped"]


@dataclass(frozen=True, slots=True)
class Outcome:
    """``retry``: the job is queued again and should run after ``retry_in`` seconds."""

    status: OutcomeStatus
    retry_in: float | None = None
    code: str | None = None


SKIPPED = Outcome("skipped")
BUSY_EVERY_S = 4.0  # Telegram shows a chat action for about 5 s
UNDELIVERED = "undelivered"  # ChatUnavailable's code: there is nobody to tell
# The metrics' outcome label for each attempt's status (jobs.metrics.JOBS).
OUTCOME_LABELS: dict[str, str] = {"succeeded": "done", "failed": "failed", "retry": "retry"}


def new_worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"


class Executor:
    def __init__(
        self,
        db: Database,
        operations: Operations,
        fetcher: InputFetcher,
        teller: Teller,
        config: QueueConfig,
        *,
        worker_id: str | None = None,
    ) -> None:
        self.db = db
        self.operations = operations
        self.fetcher = fetcher
        self.teller = teller
        self.config = config
        self.worker_id = worker_id or new_worker_id()
        # The bound on engine calls at once in this process ("per GPU"); the threads outlive a
        # cancelled attempt, so the bound holds even while a timed-out call is still finishing.
        self.engine_threads = ThreadPoolExecutor(max_workers=config.engine_slots, thread_name_prefix="engine")

    def close(self) -> None:
        self.engine_threads.shutdown(wait=False, cancel_futures=True)

    async def run(self, job_id: str) -> Outcome:
        claimed = await self._claim(job_id)
        if claimed is None:
            return SKIPPED
        job, user = claimed
        if job.started_at is not None and job.queued_at is not None:
            QUEUE_WAIT.observe(max(0.0, (job.started_at - job.queued_at).total_seconds()))
        # Every line logged while this attempt runs (ours, the notifiers', the fetcher's) names the job
        # and its user: the context lives in this task's contextvars, not in one logger.
        with structlog.contextvars.bound_contextvars(job_id=job_id, user_id=job.user_id):
            logger = log.bind(attempt=job.attempts, worker=self.worker_id)
            target = Target.of(job, user)
            try:
                outcome = await self._attempt(job, target, self.teller.notifier(target))
            except asyncio.CancelledError:
                # Aborted (cancel), shut down or timed out by the queue: give the job back unless it ended.
                await asyncio.shield(self._give_back(job_id, "interrupted"))
                JOBS.labels(kind=job.kind, outcome="interrupted").inc()
                logger.info("job interrupted")
                raise
            JOBS.labels(kind=job.kind, outcome=OUTCOME_LABELS.get(outcome.status, outcome.status)).inc()
            logger.info(
                "job attempt ended", status=outcome.status, code=outcome.code, retry_in=outcome.retry_in
            )
        return outcome

    # --- the steps --------------------------------------------------------------------------------

    async def _claim(self, job_id: str) -> tuple[Job, User | None] | None:
        try:
            async with self.db.transaction() as session:
                job = await db_jobs.start(
                    session, job_id, worker_id=self.worker_id, lease=timedelta(seconds=self.config.lease_s)
                )
                user = await session.get(User, job.user_id)
                return job, user
        except (InvalidTransition, JobNotFound):
            return None  # finished, cancelled, forgotten, or being run by another worker

    async def _attempt(self, job: Job, target: Target | None, notifier: Notifier | None) -> Outcome:
        loop = asyncio.get_running_loop()
        # "Working" goes out while the inputs download; it must be answered before the engine runs,
        # because a chat that is gone for good (blocked bot) should cost no GPU time.
        working = asyncio.create_task(self.teller.status(target, codes.WORKING, strict=True))
        try:
            if target is not None and notifier is None:
                raise JobFailure(
                    "no_notifier",
                    f"this worker cannot deliver to {target.delivery.platform}",
                    transient=False,
                    params={"platform": target.delivery.platform},
                )
            async with asyncio.timeout(self.config.job_timeout_s):
                work = await self._inputs(job)
                await working
                busy = asyncio.create_task(self._keep_busy(notifier, target))
                try:
                    output = await loop.run_in_executor(self.engine_threads, self.operations.run, work)
                finally:
                    busy.cancel()
        except Exception as exc:
            return await self._settle(job, target, classify(exc))
        finally:
            if not working.done():
                working.cancel()
            elif not working.cancelled():
                working.exception()  # already handled or superseded: mark it retrieved
        ref: str | None = None
        if notifier is not None and target is not None and output.result is not None:
            # the caption's balance, when it says one, is read in the same transaction
            wants_balance = output.result.face_count is None and job.cost > 0
            ours, balance = await self._begin_delivery(job, balance=wants_balance)
            if not ours:
                return SKIPPED
            try:
                caption = self._caption(job, target, output.result, balance)
                ref = await self._deliver(notifier, target, output.result, caption)
            except Exception as exc:
                return await self._settle(job, target, classify(exc))
        try:
            async with self.db.transaction() as session:
                ended = await self._end(session, job, output, ref)
        except (InvalidTransition, JobNotFound):
            log.warning("job ended elsewhere while its result was delivered", job_id=job.id)
            return SKIPPED
        if isinstance(ended, Saved):
            await self.teller.ending(target, ended.code, **ended.params)
        else:
            await self.teller.status(target, codes.DONE)
        return Outcome("succeeded")

    async def _end(self, session: AsyncSession, job: Job, output: Output, ref: str | None) -> Saved | None:
        """The job's end, in one transaction, only while we still hold it: succeeded (or needs a
        choice, refunded), its faces kept, a face saved by an analysis that found exactly one."""
        # delivered_at with the move itself (what db_jobs.mark_delivered would set next)
        end = db_jobs.await_choice if output.needs_choice else db_jobs.succeed
        await end(session, job.id, result_ref=ref, worker_id=self.worker_id, delivered=ref is not None)
        if output.faces is not None:
            await analyses.store(session, job.id, output.faces)
        if job.kind == JobKind.ANALYZE.value and output.result is None:
            return await _save_one_face(session, job)
        return None

    async def _keep_busy(self, notifier: object, target: Target | None) -> None:
        """Show the chat that its job is being worked on, until cancelled (the engine finished)."""
        if target is None or not isinstance(notifier, ShowsActivity):
            return
        while True:
            try:
                await notifier.busy(target)
            except Exception as exc:  # cosmetic: the job goes on
                log.debug("chat action failed", job_id=target.job_id, error=repr(exc))
            await asyncio.sleep(BUSY_EVERY_S)

    async def _inputs(self, job: Job) -> Work:
        inputs = job.inputs
        if not inputs or "target" not in inputs:
            raise InputUnavailable("the job's inputs were deleted")
        fetches = [self.fetcher.fetch(InputRef.from_json(inputs["target"]))]
        if "source" in inputs:
            fetches.append(self.fetcher.fetch(InputRef.from_json(inputs["source"])))
        fetched = await asyncio.gather(*fetches)
        saved = await self._saved_face(job, inputs["saved_face"]) if "saved_face" in inputs else None
        mixed = [await self._saved_face(job, face_id) for face_id in (job.params or {}).get("mix") or ()]
        detected = await self._detections(job, inputs["detections"]) if "detections" in inputs else None
        return Work(
            kind=JobKind(job.kind),
            params=job.params or {},
            target=fetched[0],
            source=fetched[1] if len(fetched) > 1 else None,
            saved=saved,
            mixed=tuple(mixed),
            detected=detected,
        )

    async def _detections(self, job: Job, earlier_id: str) -> tuple[Face, ...] | None:
        """The faces an earlier job of this user stored for the same photo (the picker this swap was
        chosen on); None, so the swap detects them itself, when they are gone or not this photo's."""
        async with self.db.session() as session:
            earlier = await db_jobs.get_or_none(session, earlier_id)
            same_photo = (
                earlier is not None
                and earlier.user_id == job.user_id
                and earlier.inputs is not None
                and job.inputs is not None
                and earlier.inputs.get("target", {}).get("identity") == job.inputs["target"]["identity"]
            )
            found = await analyses.detections(session, earlier_id) if same_photo else None
        return tuple(stored_faces(found)) if found is not None else None

    async def _saved_face(self, job: Job, face_id: int) -> StoredIdentity:
        async with self.db.read() as session:
            face = await session.get(SavedFace, face_id)
            if face is None or face.user_id != job.user_id:
                raise JobFailure("face_not_found", "the saved face was deleted", transient=False)
            return StoredIdentity(
                chip=face.chip,
                landmarks=face.landmarks,
                embeddings={e.model: e.vector for e in face.embeddings},
            )

    async def _begin_delivery(self, job: Job, *, balance: bool = False) -> tuple[bool, int | None]:
        """Extend our lease through the delivery and mark the job as being delivered, in one statement
        (``db.jobs.begin_delivery``); False when the job is no longer ours. From the commit on, /cancel
        is refused: the result is on its way and is paid for. Asked every time, not only when the lease
        is short: a cancel's abort signal reaches a worker at its next look at the queue, which may be
        after the engine finished, and a cancelled result must not be sent. ``balance``: also the user's
        balance (the caption's), read in the same transaction; None when not asked or not ours."""
        async with self.db.transaction() as session:
            ours = await db_jobs.begin_delivery(
                session,
                job.id,
                worker_id=self.worker_id,
                lease=timedelta(seconds=self.config.delivery_lease_s),
            )
            left = await ledger.balance(session, job.user_id) if ours and balance else None
        return ours, left

    def _caption(self, job: Job, target: Target, result: Result, balance: int | None) -> str:
        """A numbered preview says how many faces it numbers; a paid result, the credits left
        (``balance``, read by ``_begin_delivery``)."""
        count = result.face_count
        if count is not None:
            found = self.teller.texts.text(codes.FACES_FOUND, target.language, count=count)
            left_out = result.faces_left_out
            if not left_out:
                return found
            more = self.teller.texts.text(
                codes.FACES_LEFT_OUT, target.language, count=count, left_out=left_out
            )
            return f"{found}\n{more}"
        if balance is None:  # free, or not asked (``run`` asks for a paid result's)
            return ""
        return self.teller.texts.text(codes.RESULT_CAPTION, target.language, balance=balance)

    async def _deliver(self, notifier: Notifier, target: Target, result: Result, caption: str) -> str:
        """Retry transient delivery failures in place (the picture is in memory; redoing the engine
        work would waste a GPU), honouring the platform's retry_after, within the delivery timeout."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.config.delivery_timeout_s
        platform = target.delivery.platform
        attempt = 0
        while True:
            attempt += 1
            try:
                async with asyncio.timeout(max(0.0, deadline - loop.time())):
                    ref = await notifier.deliver(target, result, caption)
            except (DeliveryError, TimeoutError) as exc:
                failure = classify(exc)
                wait = self.config.backoff_s(attempt, failure.retry_after)
                if attempt >= self.config.delivery_attempts or loop.time() + wait >= deadline:
                    DELIVERIES.labels(platform=platform, outcome="failed").inc()
                    raise DeliveryError(failure.detail, failure.retry_after) from exc
                DELIVERY_RETRIES.labels(platform=platform).inc()
                log.info(
                    "delivery failed, trying again", job_id=target.job_id, wait=wait, detail=failure.detail
                )
                await asyncio.sleep(wait)
            except Exception:  # the chat is gone, or it refused the file
                DELIVERIES.labels(platform=platform, outcome="failed").inc()
                raise
            else:
                DELIVERIES.labels(platform=platform, outcome="delivered").inc()
                return ref

    async def _settle(self, job: Job, target: Target | None, failure: JobFailure) -> Outcome:
        """A failed attempt: queue the job again (transient, tries left) or fail it and refund."""
        try:
            async with self.db.transaction() as session:
                if failure.transient and job.attempts < self.config.max_tries:
                    await db_jobs.retry(
                        session, job.id, code=failure.code, text=failure.detail, worker_id=self.worker_id
                    )
                    wait = self.config.backoff_s(job.attempts, failure.retry_after)
                    return Outcome("retry", retry_in=wait, code=failure.code)
                await db_jobs.fail(
                    session, job.id, code=failure.code, text=failure.detail, worker_id=self.worker_id
                )
        except (InvalidTransition, JobNotFound):
            return SKIPPED  # cancelled (and refunded) while we worked
        if failure.code != UNDELIVERED:
            await self.teller.ending(
                target, codes.FAILED, **failure.params, reason=failure.code, refunded=job.cost > 0
            )
        return Outcome("failed", code=failure.code)

    async def _give_back(self, job_id: str, code: str) -> None:
        try:
            async with self.db.transaction() as session:
                await db_jobs.retry(session, job_id, code=code, worker_id=self.worker_id)
        except (InvalidTransition, JobNotFound):
            pass  # it was cancelled, which is why we were stopped


@dataclass(frozen=True, slots=True)
class Saved:
    """How an analysis for saving that found one face ended: saved (``face_saved``, its name) or refused
    (the refusal's code and params: a name taken since, the face limit reached)."""

    code: str
    params: dict[str, Any]


async def _save_one_face(session: AsyncSession, job: Job) -> Saved:
    """The end of an analysis for saving whose photo has one face: that face saved under the name asked,
    in the transaction that ends the job (so the job cannot end without it). A refusal leaves the job
    succeeded, and says why."""
    name = str((job.params or {}).get("name", ""))
    try:
        async with session.begin_nested():
            face = await analyses.save_face(session, job, 1, name)
    except DbError as exc:
        return Saved(exc.code, error_params(exc))
    return Saved(codes.FACE_SAVED, {"name": face.name})
