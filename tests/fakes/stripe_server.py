"""A fake Stripe API, enough for the real ``stripe`` library's Checkout Session create, plus webhook
payloads signed the way Stripe signs them.

``POST /v1/checkout/sessions`` takes Stripe's form encoding (``line_items[0][price_data][currency]``),
records every request with its parsed fields, bearer key and ``Idempotency-Key`` header, and answers a
``checkout.session`` object. The same idempotency key gets the same session back (as Stripe does for 24
hours), so a double tap is seen here as two requests and one session. A ``Script`` makes the route fail
(``card_error``-style 402s, 5xx, 401 for a wrong key).

``POST /v1/refunds`` refunds a charge the test made known with ``add_charge``, named by ``charge`` or by
``payment_intent``, in full, and answers a ``refund`` object. As Stripe does: the same idempotency key
gets the first refund back; another refund of a refunded charge is a 400 ``charge_already_refunded``;
an unknown charge or intent is a 400 ``resource_missing``. ``refund_script`` scripts this route.

``signature_header`` and ``signed`` build the ``Stripe-Signature`` header with the ``stripe`` library's
own ``WebhookSignature.generate_signature_header`` (``t=<unix time>,v1=<hex HMAC-SHA256 of
"<t>.<payload>" keyed by the endpoint secret>``), with the timestamp chosen by the test
(a stale one is 5 minutes and more old).
"""

from __future__ import annotations

import itertools
import json
import secrets
import threading
import time
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any
from urllib.parse import parse_qsl

import stripe
from aiohttp import web

from tests.fakes import Reply, Script, ServerThread

SECRET_KEY = "sk_test_fake_secret_key_for_swapbot"
WEBHOOK_SECRET = "whsec_test_fake_endpoint_secret"


@dataclass
class Request:
    """One API request as the fake saw it: the parsed form (nested keys kept as Stripe spells them,
    e.g. ``metadata[user_id]``), the bearer key and the idempotency key."""

    method: str
    path: str
    form: dict[str, str]
    api_key: str | None
    idempotency_key: str | None
    headers: dict[str, str] = field(default_factory=dict)


class FakeStripe:
    def __init__(self, *, secret_key: str = SECRET_KEY) -> None:
        self.secret_key = secret_key
        self.requests: list[Request] = []
        self.sessions: dict[str, dict[str, Any]] = {}  # id -> the session object answered
        self.script = Script()
        self._by_key: dict[str, str] = {}  # idempotency key -> session id
        self.charges: dict[str, dict[str, Any]] = {}  # charge id -> the charge (add_charge)
        self.refunds: dict[str, dict[str, Any]] = {}  # refund id -> the refund object answered
        self.refund_script = Script()
        self._refund_by_key: dict[str, str] = {}  # idempotency key -> refund id
        self._ids = itertools.count(1)
        # Unique across fakes: tests sharing one database never meet another test's session id.
        self._prefix = secrets.token_hex(6)
        self._lock = threading.Lock()
        app = web.Application()
        app.router.add_post("/v1/checkout/sessions", self._create_session)
        app.router.add_post("/v1/refunds", self._create_refund)
        self._server = ServerThread(app)

    @property
    def url(self) -> str:
        return self._server.url

    def start(self) -> FakeStripe:
        self._server.start()
        return self

    def stop(self) -> None:
        self._server.stop()

    def __enter__(self) -> FakeStripe:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def add_charge(
        self, charge_id: str, *, amount: int, currency: str = "usd", payment_intent: str | None = None
    ) -> dict[str, Any]:
        """A paid charge on the account, as Stripe keeps it (refundable once, in full)."""
        charge = {
            "id": charge_id,
            "object": "charge",
            "amount": amount,
            "amount_refunded": 0,
            "currency": currency,
            "payment_intent": payment_intent,
            "paid": True,
            "refunded": False,
        }
        with self._lock:
            self.charges[charge_id] = charge
        return charge

    def refund_requests(self) -> list[Request]:
        return [r for r in self.requests if r.path == "/v1/refunds"]

    async def _seen(self, request: web.Request) -> Request:
        form = dict(parse_qsl(await request.text(), keep_blank_values=True))
        auth = request.headers.get("Authorization", "")
        api_key = auth.removeprefix("Bearer ") if auth.startswith("Bearer ") else None
        seen = Request(
            request.method,
            request.path,
            form,
            api_key,
            request.headers.get("Idempotency-Key"),
            dict(request.headers),
        )
        with self._lock:
            self.requests.append(seen)
        return seen

    async def _create_refund(self, request: web.Request) -> web.Response:
        seen = await self._seen(request)
        reply = self.refund_script.next()
        if reply.status != 200:
            return _error(reply)
        if seen.api_key != self.secret_key:
            return _error(Reply(401, f"Invalid API Key provided: {seen.api_key}", "invalid_api_key"))
        key, form = seen.idempotency_key, seen.form
        with self._lock:
            if key is not None and key in self._refund_by_key:
                return web.json_response(self.refunds[self._refund_by_key[key]])
            charge = self._charge_named(form)
            if charge is None:
                name = "charge" if "charge" in form else "payment_intent"
                missing = f"No such {name}: '{form.get(name, '')}'"
                return _error(Reply(400, missing, "resource_missing"))
            if charge["refunded"]:
                return _error(
                    Reply(400, f"Charge {charge['id']} has already been refunded.", "charge_already_refunded")
                )
            charge |= {"refunded": True, "amount_refunded": charge["amount"]}
            refund = _refund(f"re_test_{self._prefix}{next(self._ids):04d}", charge)
            self.refunds[refund["id"]] = refund
            if key is not None:
                self._refund_by_key[key] = refund["id"]
        return web.json_response(refund)

    def _charge_named(self, form: dict[str, str]) -> dict[str, Any] | None:
        if "charge" in form:
            return self.charges.get(form["charge"])
        intent = form.get("payment_intent")
        return next((c for c in self.charges.values() if intent and c["payment_intent"] == intent), None)

    async def _create_session(self, request: web.Request) -> web.Response:
        seen = await self._seen(request)
        form, api_key, key = seen.form, seen.api_key, seen.idempotency_key
        reply = self.script.next()
        if reply.status != 200:
            return _error(reply)
        if api_key != self.secret_key:
            return _error(Reply(401, f"Invalid API Key provided: {api_key}", "invalid_api_key"))
        with self._lock:
            if key is not None and key in self._by_key:
                return web.json_response(self.sessions[self._by_key[key]])
            session = _session(f"cs_test_{self._prefix}{next(self._ids):04d}", form)
            self.sessions[session["id"]] = session
            if key is not None:
                self._by_key[key] = session["id"]
        return web.json_response(session)


def _session(session_id: str, form: dict[str, str]) -> dict[str, Any]:
    metadata = {
        name.removeprefix("metadata[").removesuffix("]"): value
        for name, value in form.items()
        if name.startswith("metadata[")
    }
    return {
        "id": session_id,
        "object": "checkout.session",
        "url": f"https://checkout.stripe.com/c/pay/{session_id}",
        "mode": form.get("mode"),
        "status": "open",
        "payment_status": "unpaid",
        "client_reference_id": form.get("client_reference_id"),
        "metadata": metadata,
        "amount_total": int(form.get("line_items[0][price_data][unit_amount]", "0")),
        "currency": form.get("line_items[0][price_data][currency]"),
        "success_url": form.get("success_url"),
        "cancel_url": form.get("cancel_url"),
        "payment_intent": None,
        "livemode": False,
        "created": int(time.time()),
    }


def _refund(refund_id: str, charge: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": refund_id,
        "object": "refund",
        "amount": charge["amount"],
        "charge": charge["id"],
        "currency": charge["currency"],
        "payment_intent": charge["payment_intent"],
        "metadata": {},
        "reason": None,
        "status": "succeeded",
        "created": int(time.time()),
    }


def _error(reply: Reply) -> web.Response:
    kind = (
        "card_error"
        if reply.status == 402
        else "api_error"
        if reply.status >= 500
        else "invalid_request_error"
    )
    body = {"error": {"type": kind, "message": reply.message, "code": reply.code}}
    return web.json_response(body, status=reply.status, headers=dict(reply.headers))


# --- webhooks -------------------------------------------------------------------------------------------


def signature_header(payload: str, secret: str = WEBHOOK_SECRET, *, timestamp: int | None = None) -> str:
    """The ``Stripe-Signature`` header Stripe would send for ``payload``, made by the real library."""
    return str(stripe.WebhookSignature.generate_signature_header(payload, secret, timestamp=timestamp))


def event(event_type: str, obj: dict[str, Any], *, event_id: str | None = None) -> str:
    """An event as Stripe posts it (JSON text), ``obj`` as its ``data.object``."""
    return json.dumps(
        {
            "id": event_id or f"evt_test_{_EVENT_PREFIX}{next(_event_ids):06d}",
            "object": "event",
            "api_version": "2025-03-31.basil",
            "created": int(time.time()),
            "livemode": False,
            "pending_webhooks": 1,
            "type": event_type,
            "data": {"object": obj},
        }
    )


_event_ids = itertools.count(1)
_EVENT_PREFIX = secrets.token_hex(4)  # unique across test runs on a kept database


def completed_session(
    session: dict[str, Any],
    *,
    payment_status: str = "paid",
    payment_intent: str | None = None,
) -> dict[str, Any]:
    """The session as a ``checkout.session.completed`` event carries it: paid, with its intent."""
    return {
        **session,
        "status": "complete",
        "payment_status": payment_status,
        "payment_intent": payment_intent or f"pi_{session['id']}",
    }


def charge(
    payment_intent: str, *, amount: int, refunded: bool = True, charge_id: str | None = None
) -> dict[str, Any]:
    """A ``charge`` object as ``charge.refunded`` carries it."""
    return {
        "id": charge_id or f"ch_{payment_intent}",
        "object": "charge",
        "amount": amount,
        "amount_refunded": amount if refunded else amount // 2,
        "refunded": refunded,
        "payment_intent": payment_intent,
    }


def dispute(payment_intent: str, *, amount: int) -> dict[str, Any]:
    """A ``dispute`` object as ``charge.dispute.created`` carries it."""
    return {
        "id": f"dp_{payment_intent}",
        "object": "dispute",
        "amount": amount,
        "charge": f"ch_{payment_intent}",
        "payment_intent": payment_intent,
        "reason": "fraudulent",
        "status": "needs_response",
    }
