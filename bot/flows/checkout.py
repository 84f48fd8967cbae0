"""Stripe Checkout links: a hosted payment page for a pack, made with the official ``stripe`` library.

Platform-neutral: Discord's /buy (and Telegram's, when the operator enables it) asks for a link and
shows it; the credits arrive later through the signed webhook (bot/flows/stripe_events.py), never
through anything the buyer's client says.

The session's metadata carries the Stars-style signed payload (``pack:<credits>:<user id>:<hmac>``),
so the webhook credits only sessions this bot made, for the user and pack it made them for. A double
tap makes one session: the idempotency key names the user, the pack, its price and a 10-minute window,
and Stripe answers the same key with the same session.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import stripe
import structlog

from bot import stripe_api
from bot.flows.payments import sign_payload
from bot.pricing import Pack, pack_of
from bot.services import Services, StripeCheckoutConfig
from db.models import User

log = structlog.get_logger("bot.flows.checkout")

IDEMPOTENCY_WINDOW_S = 600  # taps within this window (aligned to the clock) reuse one session
CHECKOUT_FAILED = "checkout_failed"
PAYLOAD_KEY = "payload"  # the metadata key of the signed payload


class CheckoutFailed(Exception):
    """Stripe did not make the session (refused, unreachable): ``code`` is the catalogue sentence."""

    def __init__(self, detail: str, code: str = CHECKOUT_FAILED) -> None:
        self.code = code
        self.detail = detail
        super().__init__(detail)


@dataclass(frozen=True, slots=True)
class CheckoutLink:
    url: str
    session_id: str
    pack: Pack


def checkout_enabled(services: Services) -> bool:
    """Stripe Checkout is configured (a secret key and both return URLs)."""
    config = services.config.stripe
    return config is not None and bool(config.secret_key and config.success_url and config.cancel_url)


def checkout_packs(services: Services) -> list[Pack]:
    """The packs sold through Checkout (those with a Stripe price), in the settings' order; none when
    Checkout is not configured."""
    if not checkout_enabled(services):
        return []
    return [pack for pack in services.config.packs if pack.stripe is not None]


def telegram_checkout_packs(services: Services) -> list[Pack]:
    """``checkout_packs`` when the operator offers Checkout links on Telegram too; none otherwise."""
    config = services.config.stripe
    return checkout_packs(services) if config is not None and config.telegram_checkout else []


async def checkout(services: Services, user: User, credits: int) -> CheckoutLink | None:
    """A Checkout link for the pack of ``credits`` credits, bought by ``user``. None when that pack is
    not sold through Stripe (or no longer for sale) or Checkout is not configured; raises
    ``CheckoutFailed`` when Stripe does not make the session."""
    config = services.config.stripe
    pack = pack_of(services.config.packs, credits)
    if config is None or not checkout_enabled(services) or pack is None or pack.stripe is None:
        return None
    params = session_params(services, config, user, pack)
    key = idempotency_key(user, pack)
    http = stripe_api.http_client()
    try:
        session = await stripe_api.client(
            config.secret_key, config.api_url, http
        ).v1.checkout.sessions.create_async(
            params,  # type: ignore[arg-type]  # a plain dict of Stripe's documented fields
            options={"idempotency_key": key},
        )
    except stripe.StripeError as exc:
        log.warning("checkout session refused", user_id=user.id, credits=credits, error=type(exc).__name__)
        raise CheckoutFailed(f"stripe: {exc.user_message or type(exc).__name__}") from exc
    finally:
        await http.close_async()
    if not session.url:
        raise CheckoutFailed(f"stripe made session {session.id} without a URL")
    log.info("checkout session", user_id=user.id, credits=credits, session_id=session.id)
    return CheckoutLink(session.url, session.id, pack)


def session_params(
    services: Services, config: StripeCheckoutConfig, user: User, pack: Pack
) -> dict[str, Any]:
    price = pack.stripe
    assert price is not None
    payload = sign_payload(services.config.secret_key, pack.credits, user.id)
    name = services.texts.text("invoice_title", user.language, credits=pack.credits)
    return {
        "mode": "payment",
        "line_items": [
            {
                "quantity": 1,
                "price_data": {
                    "currency": price.currency.lower(),
                    "unit_amount": price.amount,
                    "product_data": {"name": name},
                },
            }
        ],
        "client_reference_id": str(user.id),
        "metadata": {
            "user_id": str(user.id),
            "credits": str(pack.credits),
            "platform": user.platform,
            PAYLOAD_KEY: payload,
        },
        # The payment intent carries the same metadata, so refunds and disputes name the buyer too.
        "payment_intent_data": {"metadata": {"user_id": str(user.id), "credits": str(pack.credits)}},
        "success_url": config.success_url,
        "cancel_url": config.cancel_url,
    }


def idempotency_key(user: User, pack: Pack, *, now: float | None = None) -> str:
    """The same user, pack and price within one window: the same key, hence the same session. The price
    is part of it because Stripe refuses a key reused with other parameters."""
    price = pack.stripe
    assert price is not None
    window = int((time.time() if now is None else now) // IDEMPOTENCY_WINDOW_S)
    return f"swapbot-checkout:{user.id}:{pack.credits}:{price.amount}{price.currency.lower()}:{window}"
