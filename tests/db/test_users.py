"""Users: created once with the free grant, even under concurrent first messages; /forget."""

from __future__ import annotations

import asyncio
import struct
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, or_, select

from db import faces, jobs, ledger, payments, users
from db.errors import UserNotFound
from db.forget import forget_user
from db.models import FreeGrant, Job, LedgerEntry, Payment, SavedFace, SavedFaceEmbedding, User
from db.session import Database
from tests.db.conftest import NewUser

SECRET = b"test secret key, 32 bytes or more"


async def _digests(db: Database, digest: bytes) -> int:
    async with db.session() as session:
        count = await session.scalar(
            select(func.count()).select_from(FreeGrant).where(FreeGrant.digest == digest)
        )
        return count or 0


async def test_first_contact_creates_once_and_grants_once(db: Database) -> None:
    external = uuid.uuid4().hex[:12]

    async def contact() -> tuple[int, bool]:
        async with db.transaction() as session:
            user, created = await users.get_or_create(
                session,
                "discord",
                external,
                display_name="Ann",
                language="de",
                free_credits=3,
                grant_secret=SECRET,
            )
            return user.id, created

    outcomes = await asyncio.gather(*(contact() for _ in range(20)))
    assert len({user_id for user_id, _ in outcomes}) == 1
    assert [created for _, created in outcomes].count(True) == 1
    user_id = outcomes[0][0]
    async with db.session() as session:
        user = await users.get(session, user_id)
        assert (user.balance, user.free_credits, user.language, user.platform) == (3, 3, "de", "discord")
        assert [e.key for e in await ledger.history(session, user_id)] == [users.free_grant_key(user_id)]
    assert await _digests(db, users.grant_digest(SECRET, "discord", external)) == 1


async def _contact(db: Database, platform: str, external: str, secret: bytes = SECRET) -> tuple[User, bool]:
    async with db.transaction() as session:
        return await users.get_or_create(session, platform, external, free_credits=3, grant_secret=secret)


async def test_coming_back_after_forget_gets_no_second_grant(db: Database) -> None:
    external = uuid.uuid4().hex[:12]
    first, created = await _contact(db, "telegram", external)
    assert created and first.balance == 3
    async with db.transaction() as session:
        await forget_user(session, first.id)

    # Back, with a burst of first messages: one new user, no credits, no grant row.
    outcomes = await asyncio.gather(*(_contact(db, "telegram", external) for _ in range(10)))
    assert [created for _, created in outcomes].count(True) == 1
    back = outcomes[0][0]
    assert back.id != first.id
    async with db.session() as session:
        again = await users.get(session, back.id)
        assert (again.balance, again.free_credits) == (0, 0)
        assert await ledger.history(session, back.id) == []
        assert await ledger.find(session, users.free_grant_key(back.id)) is None
        grants = select(func.count()).select_from(LedgerEntry).where(LedgerEntry.reason == "grant")
        assert await session.scalar(grants.where(LedgerEntry.key == users.free_grant_key(first.id))) == 1
    # What /forget kept is the HMAC of the identity, nothing more.
    assert await _digests(db, users.grant_digest(SECRET, "telegram", external)) == 1

    # Other identities still get theirs: another id, and the same id on another platform.
    other, _ = await _contact(db, "telegram", uuid.uuid4().hex[:12])
    elsewhere, _ = await _contact(db, "discord", external)
    assert (other.balance, other.free_credits, elsewhere.balance) == (3, 3, 3)


async def test_the_memory_is_keyed(db: Database) -> None:
    """The digest depends on the key: why the embedded key is kept in a file and Postgres needs one set."""
    external = uuid.uuid4().hex[:12]
    first, _ = await _contact(db, "discord", external)
    async with db.transaction() as session:
        await forget_user(session, first.id)
    back, _ = await _contact(db, "discord", external, secret=b"another key, also 32 bytes or more")
    assert back.balance == 3
    with pytest.raises(ValueError, match="grant_secret"):
        async with db.transaction() as session:
            await users.get_or_create(session, "discord", uuid.uuid4().hex[:12], free_credits=3)


async def test_seeing_a_user_again_refreshes_it(db: Database) -> None:
    t0 = datetime(2020, 5, 1, tzinfo=UTC)
    async with db.transaction() as session:
        user, _ = await users.get_or_create(session, "telegram", 4242000 + id(t0) % 1000, now=t0)
    async with db.transaction() as session:
        again, created = await users.get_or_create(
            session, "telegram", user.external_id, display_name="New", now=t0 + timedelta(days=1)
        )
        assert not created and again.id == user.id
        assert (again.display_name, again.last_seen_at, again.created_at) == (
            "New",
            t0 + timedelta(days=1),
            t0,
        )
        banned = await users.update_profile(session, user.id, is_banned=True, language="es")
        assert (banned.is_banned, banned.is_admin, banned.language) == (True, False, "es")
        assert await users.find(session, "discord", user.external_id) is None
    with pytest.raises(UserNotFound):
        async with db.transaction() as session:
            await users.update_profile(session, 10**12, is_admin=True)


async def test_last_seen_is_refreshed_after_the_interval_not_on_every_contact(db: Database) -> None:
    t0 = datetime(2020, 6, 1, tzinfo=UTC)
    external = uuid.uuid4().hex[:12]
    every = users.LAST_SEEN_EVERY

    async def contact(at: datetime, name: str | None = "Ann") -> User:
        async with db.transaction() as session:
            user, created = await users.get_or_create(
                session, "telegram", external, display_name=name, now=at
            )
        async with db.session() as session:  # what the database holds, not what was returned
            stored = await users.get(session, user.id)
        assert (created, stored.last_seen_at, stored.display_name) == (
            at == t0,
            user.last_seen_at,
            user.display_name,
        )
        return stored

    await contact(t0)
    assert (await contact(t0 + every - timedelta(seconds=1))).last_seen_at == t0  # within: nothing written
    renamed = await contact(t0 + every / 2, "Bob")  # a new name is written at once, last_seen_at kept
    assert (renamed.display_name, renamed.last_seen_at) == ("Bob", t0)
    assert (await contact(t0 + every, None)).last_seen_at == t0 + every  # due: refreshed
    later = await contact(t0 + every + timedelta(minutes=1), None)
    assert (later.last_seen_at, later.display_name) == (t0 + every, "Bob")


async def _give_user_everything(db: Database, user_id: int, tag: str) -> str:
    charge = f"ch_{tag}_{user_id}"
    async with db.transaction() as session:
        await payments.record(
            session,
            provider="stripe",
            charge_id=charge,
            user_id=user_id,
            amount=999,
            currency="eur",
            credits=10,
            payload={"customer_email": f"{tag}@example.org"},
        )
        for name in ("me", "friend"):
            await faces.save(
                session,
                user_id,
                name,
                chip=b"jpeg",
                landmarks=[[1.0, 2.0]],
                embeddings={"m": struct.pack("<2f", 1, 2)},
            )
        for n in range(2):
            await jobs.create(
                session,
                job_id=f"{tag}:{user_id}:{n}",
                user_id=user_id,
                kind="swap",
                cost=1,
                inputs={"photo": f"{tag}-file"},
            )
        await jobs.cancel(session, f"{tag}:{user_id}:1")
    return charge


async def test_forget_leaves_only_an_anonymised_ledger(db: Database, new_user: NewUser) -> None:
    gone, kept = await new_user(balance=2), await new_user(balance=2)
    charge = await _give_user_everything(db, gone, "gone")
    await _give_user_everything(db, kept, "kept")
    async with db.session() as session:
        before = [(e.key, e.delta, e.balance_after) for e in await ledger.history(session, gone)]
        external = (await users.get(session, gone)).external_id

    async with db.transaction() as session:
        report = await forget_user(session, gone)
    assert (report.faces, report.payments_anonymised, report.ledger_anonymised) == (2, 1, len(before))
    assert sorted(p.job_id for p in report.jobs) == [f"gone:{gone}:0", f"gone:{gone}:1"]
    assert report.jobs[0].inputs == {"photo": "gone-file"}

    async with db.session() as session:
        assert await session.get(User, gone) is None
        assert (
            await session.scalar(select(func.count()).select_from(User).where(User.external_id == external))
            == 0
        )
        for model in (SavedFace, Job, Payment, LedgerEntry):
            assert (
                await session.scalar(select(func.count()).select_from(model).where(model.user_id == gone))
                == 0
            )
        orphans = (
            select(func.count())
            .select_from(SavedFaceEmbedding)
            .where(~SavedFaceEmbedding.identity_id.in_(select(SavedFace.id)))
        )
        assert await session.scalar(orphans) == 0
        # What stays: the amounts and keys, linked to nobody.
        keys = [k for k, _, _ in before]
        after = (await session.scalars(select(LedgerEntry).where(LedgerEntry.key.in_(keys)))).all()
        assert sorted((e.key, e.delta, e.balance_after) for e in after) == sorted(before)
        assert {e.user_id for e in after} == {None}
        payment = await payments.get(session, "stripe", charge)
        assert (payment.user_id, payment.payload, payment.amount, payment.credits) == (None, None, 999, 10)
        leaks = (
            select(func.count())
            .select_from(LedgerEntry)
            .where(or_(LedgerEntry.key.contains(external), LedgerEntry.key.contains("@example.org")))
        )
        assert await session.scalar(leaks) == 0
        # The other user is untouched.
        assert await faces.count(session, kept) == 2
        assert len(await jobs.for_user(session, kept)) == 2
        assert (await payments.for_user(session, kept))[0].payload == {"customer_email": "kept@example.org"}

    # The same person comes back and the old payment is replayed: it is not credited again.
    async with db.transaction() as session:
        back, created = await users.get_or_create(
            session, "telegram", external, free_credits=3, grant_secret=SECRET
        )
        assert created and back.id != gone
        replay = await payments.record(
            session,
            provider="stripe",
            charge_id=charge,
            user_id=back.id,
            amount=999,
            currency="eur",
            credits=10,
        )
        assert replay.replayed and replay.posting is not None and replay.posting.user_id is None
        assert await ledger.balance(session, back.id) == 3

    with pytest.raises(UserNotFound):
        async with db.transaction() as session:
            await forget_user(session, gone)
