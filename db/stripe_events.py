"""Stripe webhook events: claiming an event id once. (Finding the payment a refund or dispute names, by
its payment intent or charge id, is ``db.payments.find_stripe``: indexed columns of the payment.)"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from db.base import utcnow
from db.models import StripeEvent
from db.sql import insert_ignore

INTENT_KEY = "payment_intent"  # where a Stripe payment's payload keeps its payment intent id


async def claim(
    session: AsyncSession, event_id: str, event_type: str, *, now: datetime | None = None
) -> bool:
    """True when this transaction is the first to handle ``event_id``. Its effect must be written in the
    same transaction: on Postgres a concurrent claim waits for this one's commit and then gets False (or
    True again, when this one rolled back and left nothing done)."""
    values = {"event_id": event_id, "type": event_type[:64], "received_at": now or utcnow()}
    inserted = await session.scalar(
        insert_ignore(session, StripeEvent, values, ["event_id"]).returning(StripeEvent.event_id)
    )
    return inserted is not None
