"""A crowd photo (the square engine): its analysis keeps the largest faces up to the limit (the jobs
config's ``max_faces``, SWAPBOT_MAX_FACES: 20 by default), stores only those, and its picker stays
inside Telegram's inline-keyboard limits (and Discord's). The swap a picker's number asks for puts the
face into the face the preview numbered so, though the photo has more faces."""

from __future__ import annotations

import struct

import numpy as np
from sqlalchemy import select

from bot.discord.picker import picker_view
from bot.flows.pickers import Picker
from db import analyses
from db import faces as db_faces
from db.models import Job
from engine.face import Face, largest, reading_order
from engine.imageio import decode_image
from jobs.config import QueueConfig
from tests.conftest import encode
from tests.jobs.squares import GREY, SquareEngine
from tests.telegram.conftest import Person, TelegramHarness
from tests.telegram.swapkit import button_data, buttons, photos_to, png

LIMIT = QueueConfig().max_faces  # what the harness's worker runs with
CROWD = 30
MAGENTA = (255, 0, 255)  # the saved face's colour: what a swap paints


def crowd() -> np.ndarray:
    """30 red squares in a 6 x 5 grid, each of its own size: 20 large ones and 10 small ones mixed."""
    image = np.full((500, 660, 3), GREY, np.uint8)
    sizes = [40 + n for n in range(20)] + [12 + n for n in range(10)]
    order = np.random.default_rng(7).permutation(CROWD)
    for cell, size in zip(order, sizes, strict=True):
        x, y = 20 + 110 * (cell % 6), 20 + 100 * (cell // 6)
        image[y : y + size, x : x + size] = (0, 0, 255)
    return image


async def _saved_face(tg: TelegramHarness, person: Person) -> None:
    """A saved face as the square engine reads one: its colour is its embedding."""
    chip = encode(np.full((128, 128, 3), MAGENTA, np.uint8), ".jpg")
    points = [[40.0, 45.0], [88.0, 45.0], [64.0, 70.0], [45.0, 96.0], [83.0, 96.0]]
    vector = struct.pack("<3f", *(c / 255.0 for c in MAGENTA))
    async with tg.db.transaction() as session:
        user = await person.user()
        await db_faces.save(
            session, user.id, "me", chip=chip, landmarks=points, embeddings={"squares-colour": vector}
        )


async def _analysis(tg: TelegramHarness, person: Person) -> Job:
    """The photo's swap job, which asked which face."""
    user = await person.user()
    async with tg.db.session() as session:
        (job,) = await session.scalars(select(Job).where(Job.user_id == user.id, Job.kind == "swap"))
        assert job.status == "needs_choice"
        return job


async def _crowd_preview(tg: TelegramHarness) -> tuple[Person, Job]:
    assert LIMIT is not None and LIMIT < CROWD
    ivy = tg.person("Ivy")
    await tg.feed(ivy.text("/start"))
    await _saved_face(tg, ivy)
    await tg.feed(ivy.photo(png(crowd())))
    await tg.idle()
    return ivy, await _analysis(tg, ivy)


async def test_a_crowd_keeps_the_largest_faces_and_the_picker_fits(tg: TelegramHarness) -> None:
    ivy, job = await _crowd_preview(tg)
    async with tg.db.session() as session:
        assert await analyses.count(session, job.id) == LIMIT  # only these got a chip and embeddings

    rows = buttons(tg)
    assert sum(len(row) for row in rows) <= 100 and all(len(row) <= 8 for row in rows)
    numbers = [b["text"] for row in rows for b in row if b["text"].isdigit()]
    assert numbers == [str(n) for n in range(1, LIMIT + 1)]

    # The preview's last number is the last of the kept faces in reading order: the swap paints that one.
    everyone = SquareEngine().detect(crowd())
    kept = largest(everyone, LIMIT)
    await tg.feed(ivy.press(button_data(rows, str(LIMIT)), 1))
    await tg.idle()
    result = photos_to(tg, ivy)[-1].data
    assert result is not None
    swapped = decode_image(result)
    painted = [face for face in everyone if _colour(swapped, face) == MAGENTA]
    assert [face.box.tolist() for face in painted] == [kept[-1].box.tolist()]
    assert (await ivy.user()).balance == 2


async def test_the_preview_caption_says_some_faces_were_left_out(tg: TelegramHarness) -> None:
    await _crowd_preview(tg)
    caption = tg.telegram.called("sendPhoto")[-1].get("caption") or ""
    left_out = tg.services.texts.text("faces_left_out", "en", count=LIMIT, left_out=CROWD - LIMIT)
    assert caption == f"{tg.services.texts.text('faces_found', 'en', count=LIMIT)}\n{left_out}"


def test_largest_keeps_reading_order_and_the_discord_picker_fits() -> None:
    faces = reading_order(SquareEngine().detect(crowd()))
    kept = largest(faces, 20)
    chosen = {id(face) for face in kept}
    assert len(kept) == 20 and [id(f) for f in kept] == [id(f) for f in faces if id(f) in chosen]  # in order
    assert min(_area(f) for f in kept) > max(_area(f) for f in faces if id(f) not in chosen)

    job_id = "swap:" + "ab" * 32 + ".12"
    for count in (20, 40):  # faces stored before the limit: more than a message takes
        view = picker_view(b"k" * 32, 10**18, Picker.SWAP, job_id, count, lambda code, **_: code, 10**12)
        ids = [item.custom_id for item in view.children]  # type: ignore[attr-defined]
        assert len(ids) <= 25 and all(len(i) <= 100 for i in ids)


def _area(face: Face) -> float:
    x1, y1, x2, y2 = face.box
    return float((x2 - x1) * (y2 - y1))


def _colour(image: np.ndarray, face: Face) -> tuple[int, ...]:
    """The face's colour at its centre, each channel read as on (255) or off (0): JPEG moves them a bit."""
    x1, y1, x2, y2 = (int(v) for v in face.box)
    return tuple(255 if int(c) > 128 else 0 for c in image[(y1 + y2) // 2, (x1 + x2) // 2])
