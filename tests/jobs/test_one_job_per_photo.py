"""A photo is one job, on both queues (ARQ on Redis + Postgres, the in-process runner on SQLite): the
worker downloads and detects the photo once. One face (or faces already chosen): swapped in the same
job, charged once. Several faces and no choice: the job ends as needing a choice, its faces kept and its
debit given back in the same transaction, the numbered preview sent; the choice is a new paid swap that
reuses the stored faces (no second detection), and only for the same user's same photo."""

from __future__ import annotations

import asyncio
from dataclasses import replace

import cv2
import numpy as np
import pytest

from db import analyses
from db import faces as db_faces
from db.jobs import Delivery
from db.models import JobStatus
from engine.stored import to_stored
from jobs.client import Cancel
from jobs.request import InputRef, JobRequest, SavedFaceRef
from tests.fakes import hang
from tests.jobs.conftest import BLUE, GREEN, RED, Harness, upload_started
from tests.jobs.squares import SquareEngine, colour_at, picture, png

CHOOSE = {"choose": True}


async def saved_blue(harness: Harness, user_id: int) -> int:
    """A saved face whose identity is the blue square, as the square engine makes and saving keeps it
    (its chip enlarged to the 64 px a decoded image needs at least)."""
    image = picture((BLUE, 20, 20))
    (face,) = SquareEngine().detect(image)
    identity = SquareEngine().identity(image, face)
    stored = to_stored(replace(identity, chip=cv2.resize(identity.chip, (64, 64))))
    async with harness.db.transaction() as session:
        saved = await db_faces.save(
            session,
            user_id,
            f"blue{user_id}",
            chip=stored.chip,
            landmarks=stored.landmarks,
            embeddings=stored.embeddings,
        )
        return saved.id


def photo_request(
    harness: Harness,
    user_id: int,
    face_id: int,
    photo: bytes | InputRef,
    *,
    params: dict | None = None,
    **extra: object,
) -> JobRequest:
    """A swap of saved face ``face_id`` onto ``photo`` (new bytes the user sends, or one sent before)."""
    target = photo if isinstance(photo, InputRef) else InputRef.telegram(*harness.telegram.add_file(photo))
    return JobRequest(
        user_id=user_id,
        kind="swap",
        target=target,
        source=SavedFaceRef(face_id),
        params=params if params is not None else CHOOSE,
        cost=1,
        delivery=Delivery("telegram", str(harness.chat)),
        **extra,  # type: ignore[arg-type]
    )


def near(colour: tuple[int, int, int], expected: tuple[int, int, int]) -> bool:
    """The same colour, but for what JPEG does to it."""
    return all(abs(a - b) <= 12 for a, b in zip(colour, expected, strict=True))


def last_photo(harness: Harness) -> np.ndarray:
    (*_, sent) = harness.telegram.sent_to(harness.chat, "photo")
    image = cv2.imdecode(np.frombuffer(sent.data, np.uint8), cv2.IMREAD_COLOR)
    assert image is not None
    return image


GROUP = png(picture((RED, 10, 20), (GREEN, 80, 20)))


async def test_a_one_face_photo_is_one_job_detected_once_and_charged_once(harness: Harness) -> None:
    user = await harness.user(balance=3)
    face = await saved_blue(harness, user)
    ticket = await harness.client.submit(photo_request(harness, user, face, png(picture((RED, 20, 20)))))
    await harness.drain()

    job = await harness.job(ticket.job_id)
    assert job.status == JobStatus.SUCCEEDED.value and job.delivered_at is not None
    assert harness.engine.detections == 1 and harness.engine.swaps == 1
    assert await harness.ledger_keys(job.id) == [f"job:{job.id}"] and await harness.balance(user) == 2
    assert near(colour_at(last_photo(harness), 32, 32), BLUE)  # the photo's only face, swapped
    async with harness.db.session() as session:
        assert await analyses.count(session, job.id) == 0  # nothing to choose: no faces kept


async def test_a_group_photo_asks_which_and_the_choice_reuses_its_faces(harness: Harness) -> None:
    user = await harness.user(balance=3)
    face = await saved_blue(harness, user)
    asked = photo_request(harness, user, face, GROUP)
    ticket = await harness.client.submit(asked)
    assert await harness.balance(user) == 2  # held while the photo is looked at
    await harness.drain()

    job = await harness.job(ticket.job_id)
    assert job.status == JobStatus.NEEDS_CHOICE.value and job.delivered_at is not None
    assert await harness.ledger_keys(job.id) == [f"job:{job.id}", f"refund:{job.id}"]
    assert await harness.balance(user) == 3  # nothing charged until a face is chosen
    assert harness.engine.detections == 1 and harness.engine.swaps == 0
    preview = harness.telegram.sent_to(harness.chat, "photo")
    assert len(preview) == 1 and preview[0].caption == "Faces found: 2. Pick one by its number."
    async with harness.db.session() as session:
        stored = await analyses.detections(session, job.id)
    assert stored is not None and [d.box for d in stored] == [[10, 20, 34, 44], [80, 20, 104, 44]]

    choice = photo_request(harness, user, face, asked.target, params={"faces": [2]}, detections=job.id)
    chosen = await harness.client.submit(choice)
    await harness.drain()

    swap = await harness.job(chosen.job_id)
    assert swap.status == JobStatus.SUCCEEDED.value and swap.inputs is not None
    assert harness.engine.detections == 1  # the stored faces, not a second detection
    assert await harness.ledger_keys(swap.id) == [f"job:{swap.id}"] and await harness.balance(user) == 2
    result = last_photo(harness)
    assert near(colour_at(result, 22, 32), RED) and near(colour_at(result, 92, 32), BLUE)  # face 2 only

    # The same photo again is the same job: it asks again, without a new charge or detection.
    again = await harness.client.submit(asked)
    assert not again.created and again.status == JobStatus.NEEDS_CHOICE.value
    assert harness.engine.detections == 1 and await harness.balance(user) == 2


async def test_faces_stored_for_another_photo_or_user_are_never_used(harness: Harness) -> None:
    alice, mallory = await harness.user(balance=3), await harness.user(balance=3)
    alice_face, mallory_face = await saved_blue(harness, alice), await saved_blue(harness, mallory)
    group = await harness.client.submit(photo_request(harness, alice, alice_face, GROUP))
    await harness.drain()
    assert harness.engine.detections == 1

    # Mallory names Alice's stored faces for a photo of her own: the worker detects her photo itself.
    other = png(picture((RED, 60, 40)))
    forged = photo_request(
        harness, mallory, mallory_face, other, params={"faces": [1]}, detections=group.job_id
    )
    ticket = await harness.client.submit(forged)
    await harness.drain()
    assert harness.engine.detections == 2
    assert (await harness.job(ticket.job_id)).status == JobStatus.SUCCEEDED.value
    assert near(colour_at(last_photo(harness), 72, 52), BLUE)  # her own photo's face, where it is


@pytest.mark.parametrize("when", ["before the work", "during the preview's upload"])
async def test_cancel_against_a_photo_that_asks_refunds_exactly_once(harness: Harness, when: str) -> None:
    user = await harness.user(balance=3)
    face = await saved_blue(harness, user)
    if when == "during the preview's upload":
        harness.telegram.script("sendPhoto").push(hang(0.5))
    ticket = await harness.client.submit(photo_request(harness, user, face, GROUP))
    if when == "before the work":
        assert await harness.client.cancel(ticket.job_id, user_id=user) is Cancel.CANCELLED
        await harness.drain()
        expected = JobStatus.CANCELLED.value
    else:
        draining = asyncio.create_task(harness.drain())
        await upload_started(harness.telegram)
        assert await harness.client.cancel(ticket.job_id, user_id=user) is Cancel.ON_ITS_WAY
        await asyncio.wait_for(draining, 30)
        expected = JobStatus.NEEDS_CHOICE.value
    job = await harness.job(ticket.job_id)
    assert job.status == expected
    assert await harness.ledger_keys(job.id) == [f"job:{job.id}", f"refund:{job.id}"]
    assert await harness.balance(user) == 3
    assert len(harness.telegram.sent_to(harness.chat, "photo")) == (expected == JobStatus.NEEDS_CHOICE.value)
    assert await harness.client.cancel(job.id, user_id=user) is Cancel.ENDED  # and never a second refund
    assert await harness.ledger_keys(job.id) == [f"job:{job.id}", f"refund:{job.id}"]
