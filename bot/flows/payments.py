"""Buying credits: the packs on offer, signed invoices, the pre-checkout verdict, crediting a payment
exactly once, and admin refunds with a ledger reversal: Stars through Telegram, card payments (the
provider token's and Checkout's) through Stripe's API.

An invoice's payload is ``pack:<credits>:<user id>:<signature>``, the signature an HMAC of the rest
with the secret key: the client only ever hands the payload back, so anything it could change (the
pack, whose credits they become) is checked against the signature, and the price against the pack
on sale now. Stars invoices are in XTR with an empty provider token; a fiat invoice (the pack's
Stripe price) needs the operator's Stripe provider token.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import StrEnum

import stripe
import structlog

from bot import stripe_api
from bot.pricing import Money, Pack, pack_of
from bot.services import Services, StripeAccount
from db import payments
from db.models import Payment, PaymentStatus, Provider, User
from jobs.metrics import record_payment

log = structlog.get_logger("bot.flows.payments")

STARS = "XTR"
_PREFIX = "pack"
_SIGNATURE_HEX = 32  # 128 bits of HMAC-SHA256: the whole payload stays far under Telegram's 128 bytes


# --- offers and invoices -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Offer:
    pack: Pack
    fiat: bool  # a fiat (Stripe) invoice can be asked for too


def offers(services: Services) -> list[Offer]:
    """The packs for sale, in the settings' order; fiat only where the pack has a Stripe price and the
    operator configured a provider token."""
    token = services.config.stripe_provider_token
    return [Offer(pack, bool(token) and pack.stripe is not None) for pack in services.config.packs]


@dataclass(frozen=True, slots=True)
class Invoice:
    pack: Pack
    payload: str
    currency: str  # "XTR", or the Stripe currency in upper case
    amount: int  # the one price: whole Stars, or the currency's minor units
    provider_token: str  # "" for Stars


# Stripe's zero-decimal currencies: their amounts are whole units, not hundredths.
_ZERO_DECIMAL_CODES = "bif clp djf gnf jpy kmf krw mga pyg rwf ugx vnd vuv xaf xof xpf"
_ZERO_DECIMAL = frozenset(_ZERO_DECIMAL_CODES.split())


def price_text(money: Money) -> str:
    """``Money(199, "usd")`` -> ``1.99 USD``."""
    if money.currency.lower() in _ZERO_DECIMAL:
        return f"{money.amount} {money.currency.upper()}"
    return f"{money.amount / 100:.2f} {money.currency.upper()}"


def invoice(services: Services, user: User, credits: int, *, fiat: bool = False) -> Invoice | None:
    """The invoice for the pack of ``credits`` credits; None when it is not (or no longer) for sale
    that way (a stale button, fiat without a provider token)."""
    pack = pack_of(services.config.packs, credits)
    if pack is None:
        return None
    payload = sign_payload(services.config.secret_key, pack.credits, user.id)
    if not fiat:
        return Invoice(pack, payload, STARS, pack.stars, "")
    token = services.config.stripe_provider_token
    if not token or pack.stripe is None:
        return None
    return Invoice(pack, payload, pack.stripe.currency.upper(), pack.stripe.amount, token)


def sign_payload(secret: bytes, credits: int, user_id: int) -> str:
    body = f"{_PREFIX}:{credits}:{user_id}"
    return f"{body}:{_signature(secret, body)}"


def read_payload(secret: bytes, payload: str) -> tuple[int, int] | None:
    """(credits, user id) from a payload we signed; None for anything else."""
    body, _, signature = payload.rpartition(":")
    prefix, _, rest = body.partition(":")
    credits, _, user_id = rest.partition(":")
    if prefix != _PREFIX or not (credits.isdecimal() and user_id.isdecimal()):
        return None
    if not hmac.compare_digest(signature, _signature(secret, body)):
        return None
    return int(credits), int(user_id)


def _signature(secret: bytes, body: str) -> str:
    return hmac.new(secret, body.encode(), hashlib.sha256).hexdigest()[:_SIGNATURE_HEX]


# --- pre-checkout ----------------------------------------------------------------------------------


class Refusal(StrEnum):
    """Why a pre-checkout is refused; each value is a sentence code shown to the payer."""

    FORGED = "checkout_forged"  # not a payload we signed
    UNKNOWN_PACK = "checkout_unknown_pack"  # the pack is no longer sold
    PRICE_CHANGED = "checkout_price_changed"  # the pack's price is not what the invoice said
    NOT_PAYER = "checkout_not_payer"  # the invoice was made for someone else, or they used /forget
    BANNED = "checkout_banned"


def check_checkout(
    services: Services, payer: User, payload: str, currency: str, amount: int
) -> Refusal | None:
    """None when ``payer`` may pay ``amount`` ``currency`` for the invoice with ``payload``.

    Answered from memory (the payer is already loaded), well inside Telegram's 10 seconds.
    """
    config = services.config
    read = read_payload(config.secret_key, payload)
    if read is None:
        return Refusal.FORGED
    credits, user_id = read
    pack = pack_of(config.packs, credits)
    if pack is None:
        return Refusal.UNKNOWN_PACK
    if not _price_matches(services, pack, currency, amount):
        return Refusal.PRICE_CHANGED
    if user_id != payer.id:  # someone else's invoice, or the payer's from before /forget
        return Refusal.NOT_PAYER
    if payer.is_banned:
        return Refusal.BANNED
    return None


def _price_matches(services: Services, pack: Pack, currency: str, amount: int) -> bool:
    if currency.upper() == STARS:
        return amount == pack.stars
    stripe = pack.stripe
    return (
        bool(services.config.stripe_provider_token)
        and stripe is not None
        and currency.upper() == stripe.currency.upper()
        and amount == stripe.amount
    )


# --- the payment ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Paid:
    """A successful payment as the platform reports it."""

    payload: str
    currency: str
    amount: int
    charge_id: str  # Telegram's telegram_payment_charge_id: the key a payment is credited once by
    provider_charge_id: str | None = None  # Stripe's charge id for fiat payments


@dataclass(frozen=True, slots=True)
class Credited:
    credits: int
    balance: int  # right after this payment's credit (a replay reports the first time's)
    replayed: bool  # this payment had been credited before: nothing was added now
    # Refunded or disputed at Stripe before it came (a held reversal): its credits went back at once.
    reversed: bool = False


async def credit(services: Services, payer: User, paid: Paid) -> Credited | None:
    """Credit the pack the payer paid for, once per charge id however often (or concurrently) the
    payment is reported. None when the payload is not one we signed (nothing is credited). A card
    payment whose Stripe charge was refunded or disputed before this comes back ``reversed``."""
    read = read_payload(services.config.secret_key, paid.payload)
    if read is None:
        log.error("payment with a foreign payload", charge_id=paid.charge_id, user_id=payer.id)
        return None
    credits, invoiced_for = read
    provider = Provider.TELEGRAM_STARS if paid.currency.upper() == STARS else Provider.STRIPE
    async with services.db.transaction() as session:
        recorded = await payments.record(
            session,
            provider=provider,
            charge_id=paid.charge_id,
            user_id=payer.id,
            amount=paid.amount,
            currency=paid.currency,
            credits=credits,
            payload={
                "invoice_user_id": invoiced_for,
                "provider_charge_id": paid.provider_charge_id,
            },
            stripe_charge=paid.provider_charge_id,  # what Stripe's refunds and disputes of it name
        )
    balance = recorded.balance if recorded.balance is not None else payer.balance
    reversed_now = recorded.reversal is not None
    if reversed_now:
        log.info("payment reversed on arrival", charge_id=paid.charge_id, user_id=payer.id)
    elif not recorded.replayed:
        record_payment(provider.value, recorded.payment.credits)
        log.info("payment credited", charge_id=paid.charge_id, user_id=payer.id, credits=credits)
    return Credited(recorded.payment.credits, balance, recorded.replayed, reversed_now)


# --- refunds ------------------------------------------------------------------------------------------


class AlreadyRefunded(Exception):
    """Raised by a ``StarRefunder`` when the platform says the charge was refunded before (e.g. a
    refund whose database commit was lost): the reversal goes ahead."""


class RefundRefused(Exception):
    """Raised by a ``StarRefunder`` when the platform refuses the refund: nothing changes here."""

    def __init__(self, description: str) -> None:
        self.description = description
        super().__init__(description)


# (the payer's platform id, the charge id) -> refunds the Stars, or raises one of the two above.
StarRefunder = Callable[[str, str], Awaitable[None]]


class RefundCode(StrEnum):
    DONE = "refund_done"  # Stars sent back
    DONE_CARD = "refund_done_card"  # a card payment refunded through Stripe
    NOT_ADMIN = "refund_not_admin"
    USAGE = "refund_usage"
    UNKNOWN = "refund_unknown"  # no payment with that id (ours, or Stripe's charge or payment intent)
    ALREADY = "refund_already"
    PAYER_GONE = "refund_payer_gone"  # the payer used /forget: the platform id to refund to is gone
    REFUSED = "refund_refused"  # Telegram said no
    REFUSED_CARD = "refund_refused_card"  # Stripe said no (or could not be reached)
    NO_STRIPE_KEY = "refund_no_stripe_key"  # a card payment, and no STRIPE_SECRET_KEY to refund it with


@dataclass(frozen=True, slots=True)
class Refund:
    code: RefundCode
    payment: Payment | None = None
    taken: int = 0  # credits taken back off the balance
    shortfall: int = 0  # credits already spent, which could not be taken back
    detail: str | None = None  # the platform's reason for a refusal
    payer: User | None = None  # who paid (set when a refund was done: they are told)

    @property
    def done(self) -> bool:
        return self.code in (RefundCode.DONE, RefundCode.DONE_CARD)

    @property
    def price(self) -> str | None:
        """What was paid, as the payer saw it (``1.99 USD``; Stars sentences say ``{amount} ⭐``)."""
        payment = self.payment
        return price_text(Money(payment.amount, payment.currency)) if payment is not None else None


async def refund(services: Services, admin: User, reference: str, refund_stars: StarRefunder) -> Refund:
    """An admin refunds a payment named by ``reference``: our charge id (Telegram's charge id, a
    Checkout session id) or Stripe's charge or payment intent id. The money goes back first: Stars
    through ``refund_stars``, a card payment through Stripe's refunds API (it needs the Stripe key);
    then the credits are reversed as far as the balance allows, with what could not be taken back
    recorded.

    The platform is asked first, holding no database lock over the round trip: when it refuses,
    nothing changed here. The reversal after it is idempotent (``payments.reverse``), so a refund whose
    commit was lost is finished by asking again (the platform then says "already refunded"), of two
    concurrent refunds the platform refunds one and the database reverses one, and Stripe's
    ``charge.refunded`` that follows a card refund changes nothing more.
    """
    if not services.config.is_admin(admin.platform, admin.external_id):
        return Refund(RefundCode.NOT_ADMIN)
    reference = reference.strip()
    if not reference:
        return Refund(RefundCode.USAGE)
    async with services.db.session() as session:
        payment = await payments.find_any(session, reference)
        if payment is None:
            return Refund(RefundCode.UNKNOWN)
        if payment.status == PaymentStatus.REFUNDED.value:
            return _already(payment)
        payer = await session.get(User, payment.user_id) if payment.user_id is not None else None
    if payment.provider == Provider.STRIPE.value:
        return await _refund_card(services, payment, payer)
    if payer is None:
        return Refund(RefundCode.PAYER_GONE, payment)
    try:
        await refund_stars(payer.external_id, payment.charge_id)
    except AlreadyRefunded:
        log.warning("stars were refunded before; reversing the credits", charge_id=payment.charge_id)
    except RefundRefused as exc:
        return Refund(RefundCode.REFUSED, payment, detail=exc.description)
    return await _reverse(services, payment, payer, RefundCode.DONE)


async def _refund_card(services: Services, payment: Payment, payer: User | None) -> Refund:
    """A card payment: Stripe refunds it (to the card, so a payer who used /forget is refunded too),
    then the credits are reversed."""
    account = services.config.stripe_api()
    if account is None:
        return Refund(RefundCode.NO_STRIPE_KEY, payment)
    refused = await _ask_stripe(account, payment)
    if refused is not None:
        return Refund(RefundCode.REFUSED_CARD, payment, detail=refused)
    return await _reverse(services, payment, payer, RefundCode.DONE_CARD)


async def _ask_stripe(account: StripeAccount, payment: Payment) -> str | None:
    """None once Stripe has refunded the payment (now or before); otherwise why not."""
    if not (payment.stripe_charge or payment.stripe_intent):
        return "no Stripe charge or payment intent is known for this payment"
    try:
        # One key per payment: a repeated or concurrent /refund gets Stripe's first answer again.
        await stripe_api.refund(
            account,
            charge=payment.stripe_charge,
            intent=payment.stripe_intent,
            idempotency_key=f"swapbot-refund:{payments.purchase_key(payment.provider, payment.charge_id)}",
        )
    except stripe.StripeError as exc:
        if exc.code == stripe_api.ALREADY_REFUNDED:
            log.warning("card refunded before; reversing the credits", charge_id=payment.charge_id)
            return None
        log.warning("stripe refused a refund", charge_id=payment.charge_id, error=type(exc).__name__)
        return str(exc.user_message or type(exc).__name__).rstrip(".")  # the sentence adds its own
    return None


async def _reverse(services: Services, payment: Payment, payer: User | None, done: RefundCode) -> Refund:
    async with services.db.transaction() as session:
        reversal = await payments.reverse(session, payment.provider, payment.charge_id)
    if not reversal.changed:  # a concurrent /refund (or Stripe's webhook) reversed it
        return _already(reversal.payment)
    log.info(
        "payment refunded",
        charge_id=payment.charge_id,
        provider=payment.provider,
        taken=reversal.taken,
        shortfall=reversal.shortfall,
    )
    return Refund(done, reversal.payment, reversal.taken, reversal.shortfall, payer=payer)


def _already(payment: Payment) -> Refund:
    taken = payment.credits_reversed or 0
    return Refund(RefundCode.ALREADY, payment, taken, payment.credits - taken)
