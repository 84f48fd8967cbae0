"""Helpers for the swap, faces and caricature tests: real photos as bytes, the bot's last answers, the
buttons under a message, and saving a face through the bot."""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np

from tests.conftest import encode
from tests.fakes.telegram_server import Sent
from tests.telegram.conftest import Person, TelegramHarness


def enlarged(image: np.ndarray, factor: int = 4) -> np.ndarray:
    """Tom Hanks is 112 px: enlarged, dlib's HOG detector finds his face."""
    return cv2.resize(image, None, fx=factor, fy=factor, interpolation=cv2.INTER_CUBIC)


def png(image: np.ndarray) -> bytes:
    return encode(image, ".png")


def blank() -> bytes:
    """A photo with no face: a smooth gradient."""
    ramp = np.tile(np.linspace(0, 255, 320, dtype=np.uint8), (240, 1))
    return png(cv2.merge([ramp, ramp[::-1], ramp]))


def photos_to(tg: TelegramHarness, person: Person) -> list[Sent]:
    return tg.telegram.sent_to(person.id, "photo") + tg.telegram.sent_to(person.id, "document")


def status_texts(tg: TelegramHarness, person: Person) -> list[str]:
    """Every text the person saw: messages sent, and each edit of them (status messages), in order."""
    texts = person.texts()
    edits = [e.text for e in tg.telegram.edits if e.chat_id == str(person.id)]
    return texts + edits


def buttons(tg: TelegramHarness, method: str = "sendPhoto") -> list[list[dict[str, Any]]]:
    """The inline keyboard of the last ``method`` call."""
    markup = tg.telegram.called(method)[-1].get("reply_markup")
    assert markup, f"the last {method} had no buttons"
    return list(markup["inline_keyboard"])


def button_data(rows: list[list[dict[str, Any]]], text: str) -> str:
    for row in rows:
        for button in row:
            if button["text"] == text:
                return str(button["callback_data"])
    raise AssertionError(f"no button {text!r} in {[[b['text'] for b in row] for row in rows]}")


async def save_face(tg: TelegramHarness, person: Person, photo: bytes, name: str) -> None:
    """/setface with the photo as its caption, until the worker saved it."""
    await tg.feed(person.text("/start"))
    await tg.feed(person.photo(photo, caption=f"/setface {name}"))
    await tg.idle()
    said = status_texts(tg, person)
    assert any(f"Saved the face as {name}" in text for text in said), said


def changed_inside_only(before: np.ndarray, after: np.ndarray, box: np.ndarray) -> tuple[float, float]:
    """Mean absolute difference inside the face box and outside a margin around it."""
    assert before.shape == after.shape
    diff = np.abs(before.astype(np.int16) - after.astype(np.int16)).mean(axis=2)
    x1, y1, x2, y2 = (int(v) for v in box)
    inside = diff[y1:y2, x1:x2].mean()
    margin = (x2 - x1) // 3
    mask = np.ones(diff.shape, bool)
    mask[max(0, y1 - margin) : y2 + margin, max(0, x1 - margin) : x2 + margin] = False
    return float(inside), float(diff[mask].mean())
