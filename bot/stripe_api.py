"""Stripe's API through the official ``stripe`` library's async client: a client per call over an
aiohttp session of the running loop, and the refund of a card payment.

Calls are rare and human-paced (a Checkout link, an admin's refund), so no client outlives its call or
its event loop; every call that creates something carries an idempotency key, which makes the
library's network retries safe.
"""

from __future__ import annotations

import aiohttp
import stripe
import structlog

from bot.services import StripeAccount

log = structlog.get_logger("bot.stripe_api")

TIMEOUT_S = 20.0  # one API call; the library retries network failures under the same key
ALREADY_REFUNDED = "charge_already_refunded"  # Stripe's error code for a second refund of a charge


def client(secret_key: str, api_url: str, http: stripe.HTTPClient) -> stripe.StripeClient:
    return stripe.StripeClient(
        secret_key,
        base_addresses={"api": api_url.rstrip("/")},
        http_client=http,
        max_network_retries=2,  # safe: every create carries an idempotency key
    )


def http_client() -> stripe.AIOHTTPClient:
    return stripe.AIOHTTPClient(timeout=aiohttp.ClientTimeout(total=TIMEOUT_S))


async def refund(
    account: StripeAccount, *, charge: str | None, intent: str | None, idempotency_key: str
) -> str:
    """Refund a card payment in full, by its charge (preferred: Telegram's card payments know only the
    charge) or its payment intent; returns the refund's id. Raises ``stripe.StripeError`` as Stripe
    answers (``code`` ``charge_already_refunded`` when it was refunded before)."""
    params = {"charge": charge} if charge else {"payment_intent": intent}
    http = http_client()
    try:
        made = await client(account.secret_key, account.api_url, http).v1.refunds.create_async(
            params,  # type: ignore[arg-type]  # a plain dict of Stripe's documented fields
            options={"idempotency_key": idempotency_key},
        )
    finally:
        await http.close_async()
    log.info("stripe refund", refund_id=made.id, charge=charge, intent=intent, status=made.status)
    return str(made.id)
