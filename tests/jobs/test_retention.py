"""Retention: after ``retention_hours`` a finished job keeps its row (status, cost, times) but loses
parameters, input references and result; files in our spool folder go, files elsewhere stay."""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from pathlib import Path

from bot.texts import Catalogue
from db import jobs as db_jobs
from db.base import utcnow
from db.session import Database
from jobs.local import LocalRunner
from jobs.notify.teller import Teller
from jobs.request import InputRef
from jobs.sweeper import Sweeper
from tests.db.conftest import make_user
from tests.jobs.conftest import queue_config


async def test_old_jobs_lose_their_inputs_results_and_parameters(sqlite: Database, tmp_path: Path) -> None:
    spool, elsewhere = tmp_path / "spool", tmp_path / "users-own"
    spool.mkdir()
    elsewhere.mkdir()
    ours_in, ours_out, theirs = spool / "in.png", spool / "out.jpg", elsewhere / "source.png"
    for path in (ours_in, ours_out, theirs):
        path.write_bytes(b"picture")
    config = dataclasses.replace(queue_config(redis_url=None), spool_dir=spool, retention_hours=24)
    sweeper = Sweeper(sqlite, LocalRunner(), config, teller=Teller(sqlite, {}, Catalogue()))
    user = await make_user(sqlite, balance=5)
    long_ago, lately = utcnow() - timedelta(hours=30), utcnow() - timedelta(hours=2)
    inputs = {"target": InputRef.local(ours_in).to_json(), "source": InputRef.local(theirs).to_json()}
    async with sqlite.transaction() as session:
        for job_id, when in (("swap:retention-old", long_ago), ("swap:retention-new", lately)):
            await db_jobs.create(
                session, job_id=job_id, user_id=user, kind="swap", cost=1, params={"faces": None},
                inputs=inputs, now=when,
            )  # fmt: skip
            await db_jobs.start(session, job_id, worker_id="w", lease=timedelta(minutes=1), now=when)
            await db_jobs.succeed(session, job_id, result_ref=f"file:{ours_out}", now=when)

    purged = await sweeper.cleanup()

    assert [p.job_id for p in purged] == ["swap:retention-old"]
    assert not ours_in.exists() and not ours_out.exists()
    assert theirs.exists()  # not ours to delete
    async with sqlite.session() as session:
        old = await db_jobs.get(session, "swap:retention-old")
        new = await db_jobs.get(session, "swap:retention-new")
    assert (old.status, old.cost, old.params, old.inputs, old.result_ref) == (
        "succeeded",
        1,
        None,
        None,
        None,
    )
    assert old.purged_at is not None
    assert new.inputs == inputs and new.result_ref == f"file:{ours_out}"
    assert await sweeper.cleanup() == []  # once
