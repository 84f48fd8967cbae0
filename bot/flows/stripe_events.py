"""What a verified Stripe webhook event means for our ledger.

``checkout.session.completed`` (when ``payment_status`` is ``paid``) and
``checkout.session.async_payment_succeeded`` credit the pack named by the session's signed metadata,
once per session id (the payment's charge id). ``charge.refunded`` (once the charge is fully refunded)
and ``charge.dispute.created`` take the credits back, never below zero, recording what was already
spent; they find the payment by its payment intent or by Stripe's charge id (``charge.id``,
``dispute.charge``), so Telegram's card payments, which know only the charge, are reversed too.
Stripe does not order events: a reversal that comes before its payment is held (db/payments.py) and
applied when the payment is recorded, in that transaction, so its credits never show. Every event with
an effect is claimed by its id in the same transaction as the effect, so a redelivery, even five at
once, changes nothing. Anything else is acknowledged and ignored.

The signature check happens before this (the web handler, with the endpoint secret): here the event is
trusted to come from Stripe, but its metadata is still checked against our own HMAC, so a session made
on the same Stripe account by anything but this bot (or with edited metadata) mints no credits.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import structlog

from bot.flows.checkout import PAYLOAD_KEY
from bot.flows.payments import read_payload
from db import payments, stripe_events
from db.models import Provider, User
from db.session import Database
from jobs.metrics import record_payment

log = structlog.get_logger("bot.flows.stripe_events")

COMPLETED = "checkout.session.completed"
ASYNC_SUCCEEDED = "checkout.session.async_payment_succeeded"
REFUNDED = "charge.refunded"
DISPUTED = "charge.dispute.created"
HANDLED_TYPES = frozenset({COMPLETED, ASYNC_SUCCEEDED, REFUNDED, DISPUTED})


class Outcome(StrEnum):
    CREDITED = "credited"
    REVERSED = "reversed"
    HELD = "held"  # a reversal of a payment not recorded yet: kept, and applied when it lands
    REVERSED_ON_ARRIVAL = "reversed_on_arrival"  # a payment refunded or disputed before it came
    REPLAYED = "replayed"  # this event (or this session's payment, or this refund) was handled before
    IGNORED = "ignored"  # nothing to do: another type, unpaid, partial refund, unknown payment
    REJECTED = "rejected"  # not a session we made (metadata unsigned or edited, the buyer is gone)


@dataclass(frozen=True, slots=True)
class Handled:
    outcome: Outcome
    user: User | None = None  # whom to tell: the buyer credited or debited
    credits: int = 0  # the pack's credits
    balance: int = 0  # the buyer's balance right after
    taken: int = 0  # credits taken back by a reversal
    shortfall: int = 0  # credits a reversal could not take back (spent)
    reason: str = ""  # why an event was ignored or rejected (logs)


async def handle(db: Database, secret_key: bytes, event: dict[str, Any]) -> Handled:
    """Apply one verified event (Stripe's JSON, as a dict) exactly once."""
    event_type = str(event.get("type", ""))
    if event_type not in HANDLED_TYPES:
        return Handled(Outcome.IGNORED, reason=f"event type {event_type}")
    obj = event.get("data", {}).get("object") or {}
    if event_type in (COMPLETED, ASYNC_SUCCEEDED):
        return await _credit(db, secret_key, str(event["id"]), event_type, obj)
    return await _reverse(db, str(event["id"]), event_type, obj)


async def _credit(
    db: Database, secret_key: bytes, event_id: str, event_type: str, session: dict[str, Any]
) -> Handled:
    session_id = str(session.get("id") or "")
    # "completed" also comes for delayed methods (bank debits) before the money arrives; those are
    # credited by async_payment_succeeded instead.
    if event_type == COMPLETED and session.get("payment_status") != "paid":
        return Handled(Outcome.IGNORED, reason=f"session {session_id} is {session.get('payment_status')}")
    metadata = session.get("metadata") or {}
    read = read_payload(secret_key, str(metadata.get(PAYLOAD_KEY) or ""))
    if not session_id or read is None:
        log.error("stripe session without our signature", session_id=session_id, event_id=event_id)
        return Handled(Outcome.REJECTED, reason="metadata not signed by this bot")
    credits, user_id = read
    intent = _id_of(session.get("payment_intent"))
    if str(session.get("client_reference_id") or "") != str(user_id):
        log.error("stripe session names another buyer", session_id=session_id, event_id=event_id)
        return Handled(Outcome.REJECTED, reason="client_reference_id differs from the signed user")
    async with db.transaction() as tx:
        if not await stripe_events.claim(tx, event_id, event_type):
            return Handled(Outcome.REPLAYED, reason=f"event {event_id}")
        buyer = await tx.get(User, user_id)
        if buyer is None:  # they used /forget after paying: the operator refunds by hand
            log.error("stripe payment for a user who is gone", session_id=session_id, user_id=user_id)
            return Handled(Outcome.REJECTED, reason=f"user {user_id} is gone")
        recorded = await payments.record(
            tx,
            provider=Provider.STRIPE,
            charge_id=session_id,
            user_id=user_id,
            amount=int(session.get("amount_total") or 0),
            currency=str(session.get("currency") or ""),
            credits=credits,
            payload={
                stripe_events.INTENT_KEY: intent,
                "event_id": event_id,
                "platform": metadata.get("platform"),
            },
            stripe_intent=intent,
        )
    balance = recorded.balance if recorded.balance is not None else buyer.balance
    if recorded.replayed:  # the other of completed / async_payment_succeeded came first
        return Handled(Outcome.REPLAYED, buyer, credits, balance, reason=f"session {session_id}")
    if (reversal := recorded.reversal) is not None:  # refunded or disputed before it came: no credits
        log.info("stripe payment reversed on arrival", session_id=session_id, user_id=user_id)
        return Handled(
            Outcome.REVERSED_ON_ARRIVAL, buyer, credits, balance, reversal.taken, reversal.shortfall
        )
    record_payment(Provider.STRIPE.value, credits)
    log.info("stripe payment credited", session_id=session_id, user_id=user_id, credits=credits)
    return Handled(Outcome.CREDITED, buyer, credits, balance)


async def _reverse(db: Database, event_id: str, event_type: str, obj: dict[str, Any]) -> Handled:
    intent = _id_of(obj.get("payment_intent"))
    # charge.refunded carries the Charge itself; a dispute names its charge.
    charge = _id_of(obj.get("id") if event_type == REFUNDED else obj.get("charge"))
    # A partial refund leaves the pack paid for in part: the credits stay until the charge is refunded
    # in full (Stripe sends charge.refunded again then, with refunded true).
    if event_type == REFUNDED and not obj.get("refunded"):
        return Handled(Outcome.IGNORED, reason=f"partial refund of {charge}")
    if intent is None and charge is None:
        return Handled(Outcome.IGNORED, reason=f"{event_type} names no payment")
    async with db.transaction() as tx:
        if not await stripe_events.claim(tx, event_id, event_type):
            return Handled(Outcome.REPLAYED, reason=f"event {event_id}")
        reversal = await payments.reverse_stripe(
            tx, event_id=event_id, event_type=event_type, intent=intent, charge=charge
        )
        if reversal is None:
            # Not recorded yet (Stripe's order is not ours), or never: another integration's payment
            # on the same account is held too, and simply never lands.
            log.info("stripe reversal held", event_type=event_type, intent=intent, charge=charge)
            return Handled(Outcome.HELD, reason=f"no payment yet with intent {intent} or charge {charge}")
        payment = reversal.payment
        buyer = await tx.get(User, payment.user_id) if payment.user_id is not None else None
    if not reversal.changed:  # a refund and a dispute of one payment: reversed once
        return Handled(Outcome.REPLAYED, reason=f"payment {payment.charge_id} reversed before")
    log.info(
        "stripe payment reversed",
        event_type=event_type,
        charge_id=payment.charge_id,
        taken=reversal.taken,
        shortfall=reversal.shortfall,
    )
    balance = buyer.balance if buyer is not None else 0  # read after the reversal, in its transaction
    return Handled(Outcome.REVERSED, buyer, payment.credits, balance, reversal.taken, reversal.shortfall)


def _id_of(value: Any) -> str | None:
    """A Stripe reference is an id, or the object itself when the event expanded it."""
    if isinstance(value, dict):
        value = value.get("id")
    return str(value) if value else None
