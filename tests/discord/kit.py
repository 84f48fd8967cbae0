"""Helpers for the Discord tests: photos as bytes, saving a face through /face save, the buttons of a
followup, and the jobs a user has."""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np
from sqlalchemy import select

from db.models import Job
from tests.conftest import encode
from tests.discord.conftest import DiscordHarness, Person
from tests.fakes.discord_server import Posted


def png(image: np.ndarray) -> bytes:
    return encode(image, ".png")


def enlarged(image: np.ndarray, factor: int = 4) -> np.ndarray:
    """Tom Hanks is 112 px: enlarged, dlib's HOG detector finds his face."""
    return cv2.resize(image, None, fx=factor, fy=factor, interpolation=cv2.INTER_CUBIC)


def decoded(data: bytes) -> np.ndarray:
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    assert image is not None, "not an image"
    return image


async def save_face(dc: DiscordHarness, person: Person, photo: bytes, name: str) -> str:
    """/face save until the worker saved it; returns the interaction token."""
    token = await dc.dispatch(person.command("face", "save", name=name, image=person.attach(photo)))
    await dc.idle()
    assert any(f"Saved the face as {name}" in text for text in dc.said(token)), dc.said(token)
    return token


def buttons(posted: Posted) -> list[dict[str, Any]]:
    """Every button of a followup, row by row."""
    rows = posted.payload.get("components") or []
    return [button for row in rows for button in row.get("components", [])]


def button_id(posted: Posted, label: str) -> str:
    for button in buttons(posted):
        if button.get("label") == label:
            return str(button["custom_id"])
    raise AssertionError(f"no button {label!r} in {[b.get('label') for b in buttons(posted)]}")


async def jobs_of(dc: DiscordHarness, person: Person) -> list[Job]:
    user = await person.user()
    async with dc.db.session() as session:
        rows = await session.scalars(select(Job).where(Job.user_id == user.id).order_by(Job.created_at))
        return list(rows)
