"""The credit ledger: exactly-once postings, never a negative balance, on Postgres and SQLite."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import select, text, update
from sqlalchemy.exc import IntegrityError

from db import ledger
from db.errors import InsufficientCredits, UserNotFound
from db.models import LedgerEntry, Reason, User
from db.session import Database
from tests.db.conftest import NewUser, make_user


async def _debit(db: Database, user_id: int, key: str) -> bool:
    async with db.transaction() as session:
        try:
            await ledger.post(session, user_id=user_id, delta=-1, reason=Reason.JOB, key=key)
        except InsufficientCredits:
            return False
    return True


async def test_100_concurrent_debits_against_10_credits(db: Database, new_user: NewUser) -> None:
    user_id = await new_user(balance=10)
    results = await asyncio.gather(*(_debit(db, user_id, f"t:debit:{user_id}:{i}") for i in range(100)))

    succeeded = [i for i, ok in enumerate(results) if ok]
    assert len(succeeded) == 10
    async with db.session() as session:
        balance = await ledger.balance(session, user_id)
        rows = list(await session.scalars(select(LedgerEntry).where(LedgerEntry.user_id == user_id)))
    debits = [r for r in rows if r.delta < 0]
    # The ledger and the cached balance agree: no debit moved one without the other.
    assert sum(r.delta for r in rows) == balance == 0
    # Exactly the debits that reported success are in the ledger, and no refused one is.
    assert sorted(r.key for r in debits) == sorted(f"t:debit:{user_id}:{i}" for i in succeeded)
    # Each debit saw the balance one lower than the one before: no two read the same balance.
    assert sorted(r.balance_after for r in debits) == list(range(10))


async def test_database_itself_refuses_a_negative_balance(db: Database, new_user: NewUser) -> None:
    user_id = await new_user(balance=1)
    with pytest.raises(IntegrityError):
        async with db.transaction() as session:
            await session.execute(update(User).where(User.id == user_id).values(balance=-1))


async def test_repeated_key_changes_nothing_and_returns_the_first(db: Database, new_user: NewUser) -> None:
    user_id = await new_user(balance=3)
    key = f"job:repeat:{user_id}"
    async with db.transaction() as session:
        first = await ledger.post(session, user_id=user_id, delta=-2, reason="job", key=key)
    assert (first.replayed, first.balance_after) == (False, 1)
    # Replayed with the balance now too low for the amount: still the first result, not an error.
    async with db.transaction() as session:
        again = await ledger.post(session, user_id=user_id, delta=-2, reason="job", key=key)
        assert await ledger.balance(session, user_id) == 1
    assert again.replayed and again.entry_id == first.entry_id and again.balance_after == 1


async def test_insufficient_credits_raise_and_write_nothing(db: Database, new_user: NewUser) -> None:
    user_id = await new_user(balance=2)
    async with db.transaction() as session:
        with pytest.raises(InsufficientCredits) as caught:
            await ledger.post(session, user_id=user_id, delta=-3, reason="job", key=f"job:poor:{user_id}")
        # The surrounding transaction stays usable after the refusal.
        assert await ledger.balance(session, user_id) == 2
    assert (caught.value.balance, caught.value.needed) == (2, 3)
    async with db.session() as session:
        assert await ledger.find(session, f"job:poor:{user_id}") is None


async def test_unknown_user(db: Database) -> None:
    async with db.transaction() as session:
        with pytest.raises(UserNotFound):
            await ledger.post(session, user_id=987654321, delta=5, reason="admin", key="t:nobody")


async def test_loaded_user_sees_the_new_balance(db: Database, new_user: NewUser) -> None:
    user_id = await new_user(balance=5)
    async with db.transaction() as session:
        user = await session.get(User, user_id)
        assert user is not None and user.balance == 5
        await ledger.post(session, user_id=user_id, delta=-4, reason="job", key=f"job:sync:{user_id}")
        assert user.balance == 1


async def test_same_key_concurrently_credits_once(db: Database, new_user: NewUser) -> None:
    user_id = await new_user(balance=0)
    key = f"t:bonus:{user_id}"

    async def credit() -> ledger.Posting:
        async with db.transaction() as session:
            return await ledger.post(session, user_id=user_id, delta=7, reason="bonus", key=key)

    postings = await asyncio.gather(*(credit() for _ in range(20)))
    assert [p.replayed for p in postings].count(False) == 1
    assert len({p.entry_id for p in postings}) == 1
    async with db.session() as session:
        assert await ledger.balance(session, user_id) == 7


async def test_lost_race_rolls_back_the_losers_balance_change(pg_db: Database) -> None:
    """Deterministic race on Postgres: the second poster of a key passes the first lookup, waits on the
    user's row, then finds the key taken: its balance change must be undone and the winner returned."""
    db = pg_db
    user_id = await make_user(db, balance=10)
    key = f"t:race:{user_id}"
    async with db.session() as winner:
        first = await ledger.post(winner, user_id=user_id, delta=-4, reason="job", key=key)

        async def loser() -> ledger.Posting:
            async with db.transaction() as session:
                posting = await ledger.post(session, user_id=user_id, delta=-4, reason="job", key=key)
                return posting

        task = asyncio.create_task(loser())
        async with db.session() as probe:  # wait until the loser really blocks on the row lock
            for _ in range(500):
                waiting = await probe.scalar(
                    text(
                        "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                        "AND datname = current_database()"
                    )
                )
                if waiting:
                    break
                await asyncio.sleep(0.01)
        assert waiting == 1
        await winner.commit()
    second = await task
    assert second.replayed and second.entry_id == first.entry_id
    async with db.session() as session:
        assert await ledger.balance(session, user_id) == 6
        assert len(await ledger.history(session, user_id)) == 2  # the seed and the one debit
