"""The payments flow on Postgres and SQLite: signed invoices, the pre-checkout verdict, crediting once,
refunds with a reversal that never drives a balance below zero."""

from __future__ import annotations

import asyncio
import dataclasses
import uuid

import pytest
from sqlalchemy import func, select

from bot.flows import payments as flow
from bot.flows.payments import Paid, RefundCode, Refusal
from bot.pricing import Money, Pack
from bot.ratelimit import MemoryRateLimiter
from bot.services import BotConfig, Services
from bot.texts import Catalogue
from db import ledger
from db import payments as db_payments
from db.forget import forget_user
from db.models import LedgerEntry, Payment, Provider, Reason, User
from db.session import Database
from db.users import get_or_create
from jobs.client import JobClient
from jobs.local import LocalRunner
from jobs.notify.teller import Teller
from tests.db.conftest import db, make_user, pg_db, sqlite_db  # noqa: F401 (fixtures)

SECRET = b"payments-flow-test-secret-key-0123456789"
ADMIN = "777000"
PACKS = (Pack(10, 100, Money(199, "usd")), Pack(50, 450))


def make_services(database: Database, **changes: object) -> Services:
    texts = Catalogue()
    config = BotConfig(secret_key=SECRET, packs=PACKS, admins=frozenset({("telegram", ADMIN)}))
    return Services(
        db=database,
        jobs=JobClient(database, LocalRunner(), teller=Teller(database, {}, texts)),
        texts=texts,
        config=dataclasses.replace(config, **changes),  # type: ignore[arg-type]
        limiter=MemoryRateLimiter(),
    )


@pytest.fixture
def services(db: Database) -> Services:  # noqa: F811
    return make_services(db)


async def load(database: Database, user_id: int) -> User:
    async with database.session() as session:
        user = await session.get(User, user_id)
        assert user is not None
        return user


async def new_user(database: Database, balance: int = 0) -> User:
    return await load(database, await make_user(database, balance))


async def admin_user(database: Database) -> User:
    """The admin, known by platform id (shared by every test on one database)."""
    async with database.transaction() as session:
        admin, _ = await get_or_create(session, "telegram", ADMIN)
        return admin


async def balance(database: Database, user_id: int) -> int:
    async with database.session() as session:
        return await ledger.balance(session, user_id)


def paid_stars(services: Services, user: User, charge: str, credits: int = 10, stars: int = 100) -> Paid:
    payload = flow.sign_payload(services.config.secret_key, credits, user.id)
    return Paid(payload, "XTR", stars, charge)


# --- invoices and payloads -------------------------------------------------------------------------


def test_payload_round_trips_and_refuses_any_change() -> None:
    payload = flow.sign_payload(SECRET, 10, 42)
    assert payload.startswith("pack:10:42:") and len(payload.encode()) <= 128
    assert flow.read_payload(SECRET, payload) == (10, 42)
    body, _, signature = payload.rpartition(":")
    assert flow.read_payload(SECRET, payload.replace("pack:10:", "pack:50:")) is None
    assert flow.read_payload(SECRET, payload.replace(":42:", ":43:")) is None
    assert flow.read_payload(b"another-key-of-enough-length-000000", payload) is None
    assert flow.read_payload(SECRET, body) is None
    for junk in ("", "pack", "pack:10:42", "pack:x:42:" + signature, ":::"):
        assert flow.read_payload(SECRET, junk) is None


async def test_stars_and_fiat_invoices(services: Services) -> None:
    user = await new_user(services.db)
    stars = flow.invoice(services, user, 10)
    assert stars is not None
    assert (stars.currency, stars.amount, stars.provider_token) == ("XTR", 100, "")
    assert flow.read_payload(SECRET, stars.payload) == (10, user.id)
    assert flow.invoice(services, user, 11) is None  # not a pack on sale (a stale button)
    assert flow.invoice(services, user, 10, fiat=True) is None  # no provider token configured
    assert [o.fiat for o in flow.offers(services)] == [False, False]

    fiat_services = make_services(services.db, stripe_provider_token="284685063:TEST:stripe")
    fiat = flow.invoice(fiat_services, user, 10, fiat=True)
    assert fiat is not None
    assert (fiat.currency, fiat.amount, fiat.provider_token) == ("USD", 199, "284685063:TEST:stripe")
    assert flow.invoice(fiat_services, user, 50, fiat=True) is None  # that pack has no Stripe price
    assert [(o.pack.credits, o.fiat) for o in flow.offers(fiat_services)] == [(10, True), (50, False)]


# --- pre-checkout --------------------------------------------------------------------------------------


async def test_pre_checkout_verdicts(services: Services) -> None:
    user = await new_user(services.db)
    invoice = flow.invoice(services, user, 10)
    assert invoice is not None
    payload = invoice.payload
    assert flow.check_checkout(services, user, payload, "XTR", 100) is None

    assert flow.check_checkout(services, user, payload, "XTR", 90) is Refusal.PRICE_CHANGED
    assert flow.check_checkout(services, user, payload, "USD", 100) is Refusal.PRICE_CHANGED
    repriced = make_services(services.db, packs=(Pack(10, 120), Pack(50, 450)))
    assert flow.check_checkout(repriced, user, payload, "XTR", 100) is Refusal.PRICE_CHANGED
    withdrawn = make_services(services.db, packs=(Pack(50, 450),))
    assert flow.check_checkout(withdrawn, user, payload, "XTR", 100) is Refusal.UNKNOWN_PACK

    forged = payload.replace("pack:10:", "pack:50:")
    assert flow.check_checkout(services, user, forged, "XTR", 450) is Refusal.FORGED
    assert flow.check_checkout(services, user, "pack:10:1:00", "XTR", 100) is Refusal.FORGED

    other = await new_user(services.db)
    assert flow.check_checkout(services, other, payload, "XTR", 100) is Refusal.NOT_PAYER
    user.is_banned = True  # as loaded after an admin's /ban
    assert flow.check_checkout(services, user, payload, "XTR", 100) is Refusal.BANNED


async def test_fiat_pre_checkout_needs_the_token_and_the_stripe_price(services: Services) -> None:
    user = await new_user(services.db)
    fiat_services = make_services(services.db, stripe_provider_token="284685063:TEST:stripe")
    fiat = flow.invoice(fiat_services, user, 10, fiat=True)
    assert fiat is not None
    assert flow.check_checkout(fiat_services, user, fiat.payload, "USD", 199) is None
    assert flow.check_checkout(fiat_services, user, fiat.payload, "USD", 99) is Refusal.PRICE_CHANGED
    assert flow.check_checkout(fiat_services, user, fiat.payload, "EUR", 199) is Refusal.PRICE_CHANGED
    # The operator removed the token after the invoice was sent: fiat is no longer sold.
    assert flow.check_checkout(services, user, fiat.payload, "USD", 199) is Refusal.PRICE_CHANGED


# --- crediting ----------------------------------------------------------------------------------------


async def test_a_payment_is_credited_once_however_often_and_concurrently_reported(
    services: Services,
) -> None:
    user = await new_user(services.db, balance=3)
    charge = f"stxTEST-{uuid.uuid4().hex}"
    paid = paid_stars(services, user, charge)

    first = await flow.credit(services, user, paid)
    assert first is not None and (first.credits, first.balance, first.replayed) == (10, 13, False)
    again = await flow.credit(services, user, paid)
    assert again is not None and again.replayed and again.balance == 13

    storm = await asyncio.gather(*(flow.credit(services, user, paid) for _ in range(12)))
    assert all(c is not None and c.replayed for c in storm)
    assert await balance(services.db, user.id) == 13

    async with services.db.session() as session:
        rows = await session.scalar(
            select(func.count()).select_from(Payment).where(Payment.charge_id == charge)
        )
        assert rows == 1
        payment = await db_payments.get(session, Provider.TELEGRAM_STARS, charge)
        stored = (payment.amount, payment.currency, payment.credits, payment.user_id)
        assert stored == (100, "XTR", 10, user.id)
        entry = await ledger.find(session, db_payments.purchase_key(Provider.TELEGRAM_STARS, charge))
        assert entry is not None and (entry.delta, entry.reason) == (10, Reason.PURCHASE.value)


async def test_first_deliveries_racing_credit_once(services: Services) -> None:
    user = await new_user(services.db)
    paid = paid_stars(services, user, f"stxRACE-{uuid.uuid4().hex}", credits=50, stars=450)
    results = await asyncio.gather(*(flow.credit(services, user, paid) for _ in range(10)))
    assert [r is not None and r.replayed for r in results].count(False) == 1
    assert await balance(services.db, user.id) == 50


async def test_a_payment_with_a_foreign_payload_credits_nothing(services: Services) -> None:
    user = await new_user(services.db)
    forged = Paid(f"pack:200:{user.id}:deadbeef", "XTR", 1, f"stxFORGED-{uuid.uuid4().hex}")
    assert await flow.credit(services, user, forged) is None
    assert await balance(services.db, user.id) == 0
    async with services.db.session() as session:
        assert await db_payments.get_or_none(session, Provider.TELEGRAM_STARS, forged.charge_id) is None


async def test_a_fiat_payment_is_recorded_as_stripe(services: Services) -> None:
    user = await new_user(services.db)
    payload = flow.sign_payload(SECRET, 10, user.id)
    charge = f"tgFIAT-{uuid.uuid4().hex}"
    credited = await flow.credit(services, user, Paid(payload, "USD", 199, charge, "ch_stripe_1"))
    assert credited is not None and credited.balance == 10
    async with services.db.session() as session:
        payment = await db_payments.get(session, Provider.STRIPE, charge)
        assert payment.payload == {"invoice_user_id": user.id, "provider_charge_id": "ch_stripe_1"}


# --- refunds ------------------------------------------------------------------------------------------


class StarsDesk:
    """Telegram's side of a Stars refund, as refundStarPayment behaves: a charge is refunded once,
    asking again is refused as already refunded. Every call is recorded."""

    def __init__(self, fail: Exception | None = None) -> None:
        self.calls: list[tuple[str, str]] = []
        self.refunded: set[str] = set()
        self.fail = fail

    async def __call__(self, external_id: str, charge_id: str) -> None:
        self.calls.append((external_id, charge_id))
        await asyncio.sleep(0)  # the real one awaits a round trip: let a racing refund run meanwhile
        if self.fail is not None:
            raise self.fail
        if charge_id in self.refunded:
            raise flow.AlreadyRefunded
        self.refunded.add(charge_id)


async def bought(services: Services, balance: int = 0, credits: int = 10) -> tuple[User, str]:
    user = await new_user(services.db, balance=balance)
    charge = f"stxREF-{uuid.uuid4().hex}"
    stars = next(p.stars for p in PACKS if p.credits == credits)
    assert await flow.credit(services, user, paid_stars(services, user, charge, credits, stars))
    return user, charge


async def spend(database: Database, user_id: int, credits: int) -> None:
    async with database.transaction() as session:
        await ledger.post(
            session, user_id=user_id, delta=-credits, reason=Reason.JOB, key=f"job:{uuid.uuid4()}"
        )


async def test_refund_takes_the_credits_back_and_calls_the_platform_once(services: Services) -> None:
    admin = await admin_user(services.db)
    user, charge = await bought(services, balance=2)
    desk = StarsDesk()

    done = await flow.refund(services, admin, charge, desk)
    assert (done.code, done.taken, done.shortfall) == (RefundCode.DONE, 10, 0)
    assert desk.calls == [(user.external_id, charge)]
    assert await balance(services.db, user.id) == 2
    assert done.payment is not None and done.payment.status == "refunded"
    assert done.payment.credits_reversed == 10

    again = await flow.refund(services, admin, charge, desk)
    assert (again.code, again.taken, again.shortfall) == (RefundCode.ALREADY, 10, 0)
    assert len(desk.calls) == 1 and await balance(services.db, user.id) == 2


async def test_refund_never_drives_the_balance_below_zero_and_records_the_shortfall(
    services: Services,
) -> None:
    admin = await admin_user(services.db)
    user, charge = await bought(services, balance=1, credits=10)
    await spend(services.db, user.id, 7)  # 4 left of the 11

    done = await flow.refund(services, admin, charge, StarsDesk())
    assert (done.code, done.taken, done.shortfall) == (RefundCode.DONE, 4, 6)
    assert await balance(services.db, user.id) == 0
    async with services.db.session() as session:
        payment = await db_payments.get(session, Provider.TELEGRAM_STARS, charge)
        assert (payment.status, payment.credits_reversed) == ("refunded", 4)
        entry = await ledger.find(session, db_payments.reversal_key(Provider.TELEGRAM_STARS, charge))
        assert entry is not None and (entry.delta, entry.reason, entry.balance_after) == (-4, "refund", 0)


async def test_refund_of_spent_credits_moves_no_credits_but_is_recorded(services: Services) -> None:
    admin = await admin_user(services.db)
    user, charge = await bought(services)
    await spend(services.db, user.id, 10)
    done = await flow.refund(services, admin, charge, StarsDesk())
    assert (done.code, done.taken, done.shortfall) == (RefundCode.DONE, 0, 10)
    assert done.payment is not None and done.payment.credits_reversed == 0
    async with services.db.session() as session:
        assert await ledger.find(session, db_payments.reversal_key(Provider.TELEGRAM_STARS, charge)) is None


async def test_concurrent_refunds_refund_once(services: Services) -> None:
    admin = await admin_user(services.db)
    user, charge = await bought(services, balance=5)
    desk = StarsDesk()
    results = await asyncio.gather(*(flow.refund(services, admin, charge, desk) for _ in range(4)))
    assert sorted(r.code for r in results) == sorted([RefundCode.DONE] + [RefundCode.ALREADY] * 3)
    assert desk.refunded == {charge}
    assert await balance(services.db, user.id) == 5
    async with services.db.session() as session:
        key = db_payments.reversal_key(Provider.TELEGRAM_STARS, charge)
        count = await session.scalar(
            select(func.count()).select_from(LedgerEntry).where(LedgerEntry.key == key)
        )
        assert count == 1


async def test_a_refused_refund_changes_nothing(services: Services) -> None:
    admin = await admin_user(services.db)
    user, charge = await bought(services)
    refused = await flow.refund(services, admin, charge, StarsDesk(flow.RefundRefused("CHARGE_NOT_FOUND")))
    assert (refused.code, refused.detail) == (RefundCode.REFUSED, "CHARGE_NOT_FOUND")
    assert await balance(services.db, user.id) == 10
    async with services.db.session() as session:
        payment = await db_payments.get(session, Provider.TELEGRAM_STARS, charge)
        assert (payment.status, payment.credits_reversed) == ("paid", None)
    # Once the platform agrees, the same refund goes through.
    assert (await flow.refund(services, admin, charge, StarsDesk())).code is RefundCode.DONE


async def test_stars_refunded_before_still_reverse_the_credits(services: Services) -> None:
    # E.g. the platform refunded, then the database commit was lost: the retry must finish the job.
    admin = await admin_user(services.db)
    user, charge = await bought(services)
    done = await flow.refund(services, admin, charge, StarsDesk(flow.AlreadyRefunded()))
    assert (done.code, done.taken) == (RefundCode.DONE, 10)
    assert await balance(services.db, user.id) == 0


async def test_refund_refusals(services: Services) -> None:
    admin = await admin_user(services.db)
    user, charge = await bought(services)
    desk = StarsDesk()
    assert (await flow.refund(services, user, charge, desk)).code is RefundCode.NOT_ADMIN
    assert (await flow.refund(services, admin, "  ", desk)).code is RefundCode.USAGE
    assert (await flow.refund(services, admin, "stxNO-SUCH-CHARGE", desk)).code is RefundCode.UNKNOWN
    assert desk.calls == [] and await balance(services.db, user.id) == 10

    async with services.db.transaction() as session:
        await forget_user(session, user.id)
    assert (await flow.refund(services, admin, charge, desk)).code is RefundCode.PAYER_GONE
    assert desk.calls == []
