"""``POST /stripe/webhook`` on the real ``swapbot web`` app: signed events credit and reverse exactly
once on Postgres, and the buyer hears of it in their chat."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import aiohttp
from sqlalchemy import func, select

from bot.flows.stripe_events import ASYNC_SUCCEEDED, COMPLETED, DISPUTED, REFUNDED
from db import ledger
from db import payments as db_payments
from db.forget import forget_user
from db.models import LedgerEntry, Payment, PaymentStatus, Provider, Reason, StripeEvent, User
from tests.fakes.stripe_server import charge, completed_session, dispute, event, signature_header
from tests.stripe.conftest import Shop, stale


async def _payment(shop: Shop, session_id: str) -> Payment | None:
    async with shop.db.session() as session:
        return await db_payments.get_or_none(session, Provider.STRIPE, session_id)


async def _purchases(shop: Shop, user: User) -> int:
    async with shop.db.session() as session:
        count = await session.scalar(
            select(func.count())
            .select_from(LedgerEntry)
            .where(LedgerEntry.user_id == user.id, LedgerEntry.reason == Reason.PURCHASE.value)
        )
        return int(count or 0)


async def _events(shop: Shop, event_id: str) -> int:
    async with shop.db.session() as session:
        count = await session.scalar(
            select(func.count()).select_from(StripeEvent).where(StripeEvent.event_id == event_id)
        )
        return int(count or 0)


def _dms(shop: Shop, user: User) -> list[str]:
    channel = shop.discord.dm_channels.get(user.external_id)
    return [p.content or "" for p in shop.discord.posted_to(channel)] if channel else []


async def _paid(shop: Shop, user: User, credits: int = 10) -> dict[str, Any]:
    """A session our checkout made for ``user``, completed and credited; returns the completed session."""
    session = completed_session(await shop.session_for(user, credits))
    status, body = await shop.post(event(COMPLETED, session))
    assert (status, body["outcome"]) == (200, "credited")
    return session


async def test_a_paid_session_credits_once_and_the_discord_buyer_is_told(shop: Shop) -> None:
    buyer = await shop.buyer("discord")
    session = completed_session(await shop.session_for(buyer, 10))
    payload = event(COMPLETED, session)

    status, body = await shop.post(payload)
    assert (status, body) == (200, {"received": True, "outcome": "credited"})
    assert await shop.balance(buyer) == 10
    payment = await _payment(shop, session["id"])
    assert payment is not None and payment.user_id == buyer.id
    assert (payment.amount, payment.currency, payment.credits) == (199, "USD", 10)
    assert payment.payload is not None and payment.payload["payment_intent"] == session["payment_intent"]
    assert _dms(shop, buyer) == ["Thank you! 10 credits were added. You now have 10 credits."]

    # The same event again, and a second event for the same session: nothing more.
    assert (await shop.post(payload))[1]["outcome"] == "replayed"
    assert (await shop.post(event(ASYNC_SUCCEEDED, session)))[1]["outcome"] == "replayed"
    assert await shop.balance(buyer) == 10
    assert await _purchases(shop, buyer) == 1
    assert len(_dms(shop, buyer)) == 1


async def test_five_deliveries_at_once_credit_once(shop: Shop) -> None:
    buyer = await shop.buyer("discord")
    session = completed_session(await shop.session_for(buyer, 50))
    payload = event(COMPLETED, session)

    results = await asyncio.gather(*(shop.post(payload) for _ in range(5)))
    assert [status for status, _ in results] == [200] * 5
    assert sorted(body["outcome"] for _, body in results) == ["credited"] + ["replayed"] * 4
    assert await shop.balance(buyer) == 50
    assert await _purchases(shop, buyer) == 1
    assert await _events(shop, str(json.loads(payload)["id"])) == 1
    assert len(_dms(shop, buyer)) == 1


async def test_a_forged_missing_or_stale_signature_is_refused_and_changes_nothing(shop: Shop) -> None:
    buyer = await shop.buyer("discord")
    session = completed_session(await shop.session_for(buyer, 10))
    payload = event(COMPLETED, session)

    assert (await shop.post(payload, secret="whsec_someone_else"))[0] == 400
    assert (await shop.post(payload, timestamp=stale()))[0] == 400
    assert (await shop.post_raw(payload, {"Content-Type": "application/json"}))[0] == 400
    tampered = payload.replace('"payment_status": "paid"', '"payment_status": "paid" ')
    header = {"Stripe-Signature": signature_header(payload)}
    assert (await shop.post_raw(tampered, header))[0] == 400  # a body that is not the one signed

    assert await shop.balance(buyer) == 0
    assert await _payment(shop, session["id"]) is None
    assert _dms(shop, buyer) == []
    # Within the tolerance the same event is taken.
    assert (await shop.post(payload, timestamp=stale(240)))[1]["outcome"] == "credited"


async def test_an_unpaid_completed_session_credits_nothing_until_the_payment_succeeds(shop: Shop) -> None:
    buyer = await shop.buyer("telegram")
    session = await shop.session_for(buyer, 10)
    unpaid = completed_session(session, payment_status="unpaid")  # a bank debit still on its way

    status, body = await shop.post(event(COMPLETED, unpaid))
    assert (status, body["outcome"]) == (200, "ignored")
    assert await shop.balance(buyer) == 0
    assert await _payment(shop, session["id"]) is None

    status, body = await shop.post(event(ASYNC_SUCCEEDED, completed_session(session)))
    assert (status, body["outcome"]) == (200, "credited")
    assert await shop.balance(buyer) == 10
    # A Telegram buyer hears of it in their private chat (its id is theirs).
    assert shop.telegram.texts_to(buyer.external_id) == [
        "Thank you! 10 credits were added. You now have 10 credits."
    ]


async def test_a_session_not_signed_by_us_mints_nothing(shop: Shop) -> None:
    buyer = await shop.buyer("discord")
    session = completed_session(await shop.session_for(buyer, 10))
    mallory = await shop.buyer("discord")

    signed = session["metadata"]["payload"]
    edited = signed.replace("pack:10:", "pack:50:")
    bigger = {**session, "metadata": {**session["metadata"], "payload": edited}}
    for forged in (
        bigger,  # the pack edited
        {**session, "metadata": {}},  # another integration's session on the same account
        {**session, "client_reference_id": str(mallory.id)},  # someone else's
    ):
        forged["id"] = f"{session['id']}_{len(str(forged))}"
        status, body = await shop.post(event(COMPLETED, forged))
        assert (status, body["outcome"]) == (200, "rejected")
    assert await shop.balance(buyer) == 0 and await shop.balance(mallory) == 0


async def test_a_refund_reverses_the_credits(shop: Shop) -> None:
    buyer = await shop.buyer("discord")
    session = await _paid(shop, buyer)
    intent = session["payment_intent"]

    partial = event(REFUNDED, charge(intent, amount=199, refunded=False))
    assert (await shop.post(partial))[1]["outcome"] == "ignored"  # half refunded: the credits stay
    assert await shop.balance(buyer) == 10

    refund = event(REFUNDED, charge(intent, amount=199))
    results = await asyncio.gather(*(shop.post(refund) for _ in range(3)))
    assert sorted(body["outcome"] for _, body in results) == ["replayed", "replayed", "reversed"]
    assert await shop.balance(buyer) == 0
    payment = await _payment(shop, session["id"])
    assert payment is not None and payment.status == PaymentStatus.REFUNDED.value
    assert payment.credits_reversed == 10
    assert _dms(shop, buyer)[-1] == (
        "Your card payment for 10 credits was refunded or disputed: 10 credits were taken back."
    )

    # A dispute of the refunded payment takes nothing more.
    assert (await shop.post(event(DISPUTED, dispute(intent, amount=199))))[1]["outcome"] == "replayed"
    assert await shop.balance(buyer) == 0


async def test_a_refund_after_spending_stops_at_zero_and_records_the_shortfall(shop: Shop) -> None:
    buyer = await shop.buyer("discord")
    session = await _paid(shop, buyer)
    async with shop.db.transaction() as tx:  # seven of the ten credits are spent on swaps
        await ledger.post(tx, user_id=buyer.id, delta=-7, reason=Reason.JOB, key=f"test:spent:{buyer.id}")

    status, body = await shop.post(event(REFUNDED, charge(session["payment_intent"], amount=199)))
    assert (status, body["outcome"]) == (200, "reversed")
    assert await shop.balance(buyer) == 0
    payment = await _payment(shop, session["id"])
    assert payment is not None and payment.credits_reversed == 3  # 7 had been spent: recorded
    assert payment.credits - payment.credits_reversed == 7
    assert "3 credits were taken back" in _dms(shop, buyer)[-1]


async def test_a_dispute_reverses_the_credits(shop: Shop) -> None:
    buyer = await shop.buyer("telegram", language="ru")
    async with shop.db.transaction() as tx:
        await ledger.post(tx, user_id=buyer.id, delta=3, reason=Reason.ADMIN, key=f"test:seed:{buyer.id}")
    session = await _paid(shop, buyer, 50)
    assert await shop.balance(buyer) == 53

    status, body = await shop.post(event(DISPUTED, dispute(session["payment_intent"], amount=899)))
    assert (status, body["outcome"]) == (200, "reversed")
    assert await shop.balance(buyer) == 3  # only the pack's credits go
    payment = await _payment(shop, session["id"])
    assert payment is not None and payment.status == PaymentStatus.REFUNDED.value
    texts = shop.telegram.texts_to(buyer.external_id)
    assert texts[0].startswith("Спасибо") and "оспорен" in texts[-1]  # in the buyer's language


async def test_events_we_do_not_handle_are_acknowledged(shop: Shop) -> None:
    buyer = await shop.buyer("discord")
    status, body = await shop.post(event("customer.created", {"id": "cus_1", "object": "customer"}))
    assert (status, body["outcome"]) == (200, "ignored")
    # A refund of a payment not recorded (another integration's, or ours still to come): acknowledged
    # and held for a payment that may land later; nothing changes now.
    status, body = await shop.post(event(REFUNDED, charge("pi_not_ours", amount=500)))
    assert (status, body["outcome"]) == (200, "held")
    assert await shop.balance(buyer) == 0


async def test_a_buyer_who_cannot_be_told_keeps_the_credits(shop: Shop) -> None:
    buyer = await shop.buyer("discord")
    shop.discord.closed_dms.add(buyer.external_id)  # DMs from the bot refused
    session = completed_session(await shop.session_for(buyer, 10))
    status, body = await shop.post(event(COMPLETED, session))
    assert (status, body["outcome"]) == (200, "credited")  # Stripe is not asked to try again
    assert await shop.balance(buyer) == 10
    assert _dms(shop, buyer) == []


async def test_a_buyer_gone_after_paying_is_recorded_not_retried(shop: Shop) -> None:
    buyer = await shop.buyer("discord")
    session = completed_session(await shop.session_for(buyer, 10))
    async with shop.db.transaction() as tx:  # /forget after paying
        await forget_user(tx, buyer.id)
    status, body = await shop.post(event(COMPLETED, session))
    assert (status, body["outcome"]) == (200, "rejected")
    assert await _payment(shop, session["id"]) is None


async def test_no_webhook_secret_means_no_route(stripe_pg_url: str) -> None:
    from aiohttp.test_utils import TestServer

    from swapbot.settings import Settings
    from swapbot.web import open_web
    from tests.stripe.conftest import SECRET

    settings = Settings(DATABASE_URL=stripe_pg_url, SWAPBOT_SECRET_KEY=SECRET, _env_file=None)
    async with open_web(settings) as app:
        server = TestServer(app)
        await server.start_server()
        try:
            async with aiohttp.ClientSession() as http:
                async with http.post(server.make_url("/stripe/webhook"), data="{}") as response:
                    assert response.status in (404, 405)
                async with http.get(server.make_url("/healthz")) as response:
                    assert response.status == 200
        finally:
            await server.close()
