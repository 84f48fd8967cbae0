"""``POST /stripe/webhook``: Stripe's signed events, verified, applied once, and the buyer told.

The signature (``Stripe-Signature``, HMAC of the raw body with the endpoint secret, within Stripe's
5-minute tolerance) is checked by the official library before anything is read: missing, forged or
stale is a 400 and nothing changes. A verified event is applied by bot/flows/stripe_events.py and
answered 200 (ignored ones too: Stripe stops sending them). A database failure is a 500, so Stripe
delivers the event again later.

Telling the buyer comes after the commit and is best effort within a few seconds: a chat that cannot
be reached never loses the credit and never makes Stripe retry (the answer is 200 either way). A payment
that was refunded or disputed before it came is told as such (nothing was added), never as credited; a
reversal held for a payment not recorded yet tells no one (the buyer is not known until it lands).
"""

from __future__ import annotations

import asyncio

import stripe
import structlog
from aiohttp import web

from bot.flows import stripe_events as flow
from bot.texts import Catalogue
from db.session import Database
from jobs.notify.direct import DirectMessages

log = structlog.get_logger("swapbot.stripe_webhook")

PATH = "/stripe/webhook"
TELL_TIMEOUT_S = 5.0  # Stripe waits up to ~10 s for the answer; the credit is committed before this
_TOLD = frozenset({flow.Outcome.CREDITED, flow.Outcome.REVERSED, flow.Outcome.REVERSED_ON_ARRIVAL})


class StripeWebhook:
    def __init__(
        self,
        db: Database,
        secret_key: bytes,
        endpoint_secret: str,
        texts: Catalogue,
        messages: DirectMessages | None = None,
        *,
        tell_timeout_s: float = TELL_TIMEOUT_S,
    ) -> None:
        self.db = db
        self.secret_key = secret_key  # SWAPBOT_SECRET_KEY: checks the sessions' signed metadata
        self.endpoint_secret = endpoint_secret  # STRIPE_WEBHOOK_SECRET: checks the event's signature
        self.texts = texts
        self.messages = messages
        self.tell_timeout_s = tell_timeout_s

    def register(self, app: web.Application, path: str = PATH) -> None:
        app.router.add_post(path, self.handle)

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        try:
            event = stripe.Webhook.construct_event(
                body, request.headers.get("Stripe-Signature"), self.endpoint_secret
            )
        except stripe.SignatureVerificationError as exc:
            log.warning("stripe webhook signature refused", reason=str(exc.user_message or exc)[:120])
            return web.json_response({"error": "signature"}, status=400)
        except ValueError:  # signed, but not an event (Stripe never sends that)
            return web.json_response({"error": "payload"}, status=400)
        handled = await flow.handle(self.db, self.secret_key, event.to_dict())
        if handled.outcome in _TOLD:
            await self._tell(handled)
        elif handled.outcome is not flow.Outcome.REPLAYED:
            log.info("stripe event not applied", event_type=event.type, reason=handled.reason)
        return web.json_response({"received": True, "outcome": handled.outcome.value})

    async def _tell(self, handled: flow.Handled) -> None:
        user = handled.user
        if user is None or self.messages is None:
            return
        if handled.outcome is flow.Outcome.CREDITED:
            text = self.texts.text(
                "payment_credited", user.language, credits=handled.credits, balance=handled.balance
            )
        elif handled.outcome is flow.Outcome.REVERSED_ON_ARRIVAL:
            text = self.texts.text(
                "payment_arrived_reversed", user.language, credits=handled.credits, balance=handled.balance
            )
        else:
            text = self.texts.text(
                "stripe_reversed", user.language, credits=handled.credits, taken=handled.taken
            )
        try:
            await asyncio.wait_for(
                self.messages.tell(user.platform, user.external_id, text), self.tell_timeout_s
            )
        except TimeoutError:
            log.info("buyer not told in time", platform=user.platform, user_id=user.id)
