"""/forget: delete everything of a user, leaving only anonymised accounting rows.

Kept: ledger rows (amounts, reasons, keys, times) with the user link nulled, so the accounts still add
up and a replayed payment or job key is still recognised; payment rows with the user link and the raw
provider payload nulled (charge ids are needed to answer refunds and disputes); the ``free_grants``
digest (an HMAC of the platform id, naming nobody without the key), so coming back does not grant the
free credits again. Deleted: the user row, saved faces with their embeddings and chips, and jobs with
their parameters, references and analysed faces.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import CursorResult, delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from db import analyses
from db.errors import DeliveryUnderway, UserNotFound
from db.jobs import Purged
from db.models import Job, JobStatus, LedgerEntry, Payment, SavedFace, SavedFaceEmbedding, User


@dataclass(frozen=True, slots=True)
class Forgotten:
    faces: int
    jobs: list[Purged]  # their input/result references, for the caller to delete the stored files
    payments_anonymised: int
    ledger_anonymised: int


async def forget_user(session: AsyncSession, user_id: int) -> Forgotten:
    """Delete ``user_id`` and everything of theirs. Raises ``DeliveryUnderway`` (nothing deleted) while
    a result of theirs is being sent: it would reach the chat after /forget. Their running jobs are
    locked first, so a worker's ``begin_delivery`` waits for this transaction and then finds no job."""
    locked = await session.scalar(select(User.id).where(User.id == user_id).with_for_update())
    if locked is None:
        raise UserNotFound(user_id)
    running = await session.execute(
        select(Job.id, Job.delivering_at)
        .where(Job.user_id == user_id, Job.status == JobStatus.RUNNING.value)
        .with_for_update()
    )
    for job_id, delivering_at in running.all():
        if delivering_at is not None:
            raise DeliveryUnderway(job_id)
    faces = await session.scalar(
        select(func.count()).select_from(SavedFace).where(SavedFace.user_id == user_id)
    )
    # Explicit deletes rather than relying on ON DELETE: correct even on a connection without foreign keys.
    await session.execute(
        delete(SavedFaceEmbedding)
        .where(SavedFaceEmbedding.identity_id.in_(select(SavedFace.id).where(SavedFace.user_id == user_id)))
        .execution_options(synchronize_session=False)
    )
    await session.execute(delete(SavedFace).where(SavedFace.user_id == user_id))
    await analyses.delete_for_jobs(
        session, list(await session.scalars(select(Job.id).where(Job.user_id == user_id)))
    )
    jobs = (
        await session.execute(
            delete(Job).where(Job.user_id == user_id).returning(Job.id, Job.inputs, Job.result_ref)
        )
    ).all()
    # UPDATE results are cursor results: they carry the row count.
    payments = cast(
        "CursorResult[Any]",
        await session.execute(
            update(Payment)
            .where(Payment.user_id == user_id)
            .values(user_id=None, payload=None)
            .execution_options(synchronize_session=False)
        ),
    )
    entries = cast(
        "CursorResult[Any]",
        await session.execute(
            update(LedgerEntry)
            .where(LedgerEntry.user_id == user_id)
            .values(user_id=None)
            .execution_options(synchronize_session=False)
        ),
    )
    await session.execute(delete(User).where(User.id == user_id))
    return Forgotten(
        faces=faces or 0,
        jobs=[Purged(j.id, j.inputs, j.result_ref) for j in jobs],
        payments_anonymised=payments.rowcount,
        ledger_anonymised=entries.rowcount,
    )
