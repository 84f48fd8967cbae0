"""Swapping through the bot with the real classic engine: a one-face photo swaps at once (charged then,
the rest of the picture untouched), the group picker's buttons (one face, All, another saved face), an
album, a photo sent as a file, and what is refused before any work (a text file, a 25 MB file), a photo
without a face, no saved face yet, and presses by someone else."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from engine.imageio import decode_image
from tests.telegram.conftest import TelegramHarness
from tests.telegram.swapkit import (
    blank,
    button_data,
    buttons,
    changed_inside_only,
    enlarged,
    photos_to,
    png,
    save_face,
    status_texts,
)

pytestmark = pytest.mark.engine("classic")


async def test_a_one_face_photo_swaps_at_once_and_only_the_face_changes(
    tg: TelegramHarness, astronaut: np.ndarray, hanks: np.ndarray
) -> None:
    alice = tg.person()
    await save_face(tg, alice, png(astronaut), "eileen")
    target = enlarged(hanks)
    await tg.feed(alice.photo(png(target)))
    await tg.idle()

    (result,) = photos_to(tg, alice)
    assert result.caption == "Credits left: 2."
    assert (await alice.user()).balance == 2
    (face,) = tg.engine.detect(target)
    inside, outside = changed_inside_only(target, decode_image(result.data or b""), face.box)
    assert inside > 10 and outside < 3, (inside, outside)
    said = status_texts(tg, alice)
    assert any(text.startswith("Queued") for text in said) and "Working on it…" in said
    calls = tg.telegram.called("sendChatAction")
    actions = [c["action"] for c in calls if str(c["chat_id"]) == str(alice.id)]
    assert actions and set(actions) == {"upload_photo"}  # shown by the worker while the engine works


async def test_the_group_picker_swaps_one_face_or_all_and_refuses_foreign_presses(
    tg: TelegramHarness, astronaut: np.ndarray, group_photo: np.ndarray
) -> None:
    alice, mallory = tg.person(), tg.person("Mallory")
    await tg.feed(mallory.text("/start"))
    await save_face(tg, alice, png(astronaut), "eileen")
    await tg.feed(alice.photo(png(group_photo)))
    await tg.idle()
    preview = tg.telegram.sent_to(alice.id, "photo")[-1]
    rows = buttons(tg)
    assert [b["text"] for b in rows[0] + rows[1]] == ["1", "2", "3", "4", "5", "6"]
    assert rows[2][0]["text"] == "All" and rows[3][0]["text"] == "Another saved face…"
    assert (await alice.user()).balance == 3  # the picker is free

    await tg.feed(mallory.press(button_data(rows, "2"), preview.message_id))
    assert "not yours" in tg.telegram.called("answerCallbackQuery")[-1]["text"]
    await tg.idle()
    assert (await mallory.user()).balance == 3 and (await alice.user()).balance == 3
    assert len(photos_to(tg, alice)) == 1 and not photos_to(tg, mallory)

    faces = tg.engine.detect(group_photo)
    await tg.feed(alice.press(button_data(rows, "2"), preview.message_id))
    await tg.idle()
    one = decode_image(photos_to(tg, alice)[-1].data or b"")
    inside, _ = changed_inside_only(group_photo, one, faces[1].box)
    others = [changed_inside_only(group_photo, one, f.box)[0] for i, f in enumerate(faces) if i != 1]
    assert inside > 10 and max(others) < 3, (inside, others)
    assert (await alice.user()).balance == 2

    await tg.feed(alice.press(button_data(rows, "All"), preview.message_id))
    await tg.idle()
    every = decode_image(photos_to(tg, alice)[-1].data or b"")
    assert min(changed_inside_only(group_photo, every, f.box)[0] for f in faces) > 5
    assert (await alice.user()).balance == 1

    # "Another saved face…" lists Alice's faces; Mallory's press of it shows nothing.
    await tg.feed(mallory.press(button_data(rows, "Another saved face…"), preview.message_id))
    assert not tg.telegram.called("editMessageReplyMarkup")
    await tg.feed(alice.press(button_data(rows, "Another saved face…"), preview.message_id))
    listed = tg.telegram.called("editMessageReplyMarkup")[-1]["reply_markup"]["inline_keyboard"]
    assert [row[0]["text"] for row in listed] == ["eileen"]
    await tg.feed(alice.press(listed[0][0]["callback_data"], preview.message_id))
    numbers = tg.telegram.called("editMessageReplyMarkup")[-1]["reply_markup"]["inline_keyboard"]
    assert button_data(numbers, "3") == button_data(rows, "3")  # eileen's numbers again
    assert "Using eileen" in tg.telegram.called("answerCallbackQuery")[-1]["text"]


async def test_an_album_swaps_the_first_face_into_the_second_photo(
    tg: TelegramHarness, astronaut: np.ndarray, hanks: np.ndarray
) -> None:
    bob = tg.person("Bob")
    await tg.feed(bob.text("/start"))
    target = enlarged(hanks)
    await tg.feed(*bob.album(png(astronaut), png(target)))
    await tg.idle()
    (result,) = photos_to(tg, bob)
    (face,) = tg.engine.detect(target)
    inside, outside = changed_inside_only(target, decode_image(result.data or b""), face.box)
    assert inside > 10 and outside < 3
    assert (await bob.user()).balance == 2

    # Polling runs an album's updates concurrently, in any order: still one swap, in the album's order.
    carol = tg.person("Carol")
    await tg.feed(carol.text("/start"))
    album = carol.album(png(target), png(astronaut))
    await asyncio.gather(*(tg.feed(update) for update in reversed(album)))
    await tg.idle()
    (result,) = photos_to(tg, carol)
    assert decode_image(result.data or b"").shape == astronaut.shape  # the second photo is the target
    assert (await carol.user()).balance == 2


async def test_a_photo_sent_as_a_file_swaps_like_a_photo(
    tg: TelegramHarness, astronaut: np.ndarray, hanks: np.ndarray
) -> None:
    alice = tg.person()
    await save_face(tg, alice, png(astronaut), "eileen")
    await tg.feed(alice.document(png(enlarged(hanks)), file_name="hanks.png", mime_type="image/png"))
    await tg.idle()
    assert len(photos_to(tg, alice)) == 1
    assert (await alice.user()).balance == 2


async def test_what_is_refused_before_any_work(tg: TelegramHarness, astronaut: np.ndarray) -> None:
    alice = tg.person()
    await tg.feed(alice.text("/start"))
    await tg.feed(alice.document(b"just some notes\n", file_name="notes.txt", mime_type="text/plain"))
    assert "not a picture" in alice.texts()[-1]
    huge = png(astronaut) + bytes(25 * 1024 * 1024)
    await tg.feed(alice.document(huge, file_name="big.png", mime_type="image/png"))
    assert "I take files up to 20 MB" in alice.texts()[-1]
    await tg.feed(alice.photo(png(astronaut)))
    assert "no saved face yet" in alice.texts()[-1]
    await tg.feed(alice.text("/swap"))
    assert "Reply /swap to a photo" in alice.texts()[-1]
    await tg.idle()
    assert not tg.telegram.called("getFile")  # nothing was downloaded
    assert (await alice.user()).balance == 3


async def test_a_photo_without_a_face_costs_nothing(tg: TelegramHarness, astronaut: np.ndarray) -> None:
    alice = tg.person()
    await save_face(tg, alice, png(astronaut), "eileen")
    await tg.feed(alice.photo(blank()))
    await tg.idle()
    assert any("could not find a face" in text for text in status_texts(tg, alice))
    assert (await alice.user()).balance == 3
    assert not photos_to(tg, alice)


async def test_swap_as_a_reply_names_a_saved_face(
    tg: TelegramHarness, astronaut: np.ndarray, hanks: np.ndarray
) -> None:
    alice = tg.person()
    await save_face(tg, alice, png(astronaut), "eileen")
    photo = alice.photo(png(enlarged(hanks)))["message"]
    await tg.feed(alice.text("/swap anna+eileen", reply_to_message=photo))
    assert "no saved face called anna" in alice.texts()[-1]
    await tg.feed(alice.text("/swap bob", reply_to_message=photo))
    assert "no saved face called bob" in alice.texts()[-1]
    await tg.feed(alice.text("/swap eileen", reply_to_message=photo))
    await tg.idle()
    assert len(photos_to(tg, alice)) == 1
    assert (await alice.user()).balance == 2


async def test_the_one_face_follow_up_on_postgres_with_arq(
    tg_pg: TelegramHarness, astronaut: np.ndarray, hanks: np.ndarray
) -> None:
    """At scale the follow-up runs in a separate ARQ worker: it submits the swap to Redis itself."""
    alice = tg_pg.person()
    await tg_pg.feed(alice.text("/start"))
    await tg_pg.feed(alice.photo(png(astronaut), caption="/setface eileen"))
    await tg_pg.drain()
    await tg_pg.feed(alice.photo(png(enlarged(hanks))))
    await tg_pg.drain()  # the analysis, whose follow-up enqueues the swap
    await tg_pg.drain()  # the swap
    (result,) = photos_to(tg_pg, alice)
    assert result.caption == "Credits left: 2."
    assert (await alice.user()).balance == 2


async def test_mixing_two_saved_faces_puts_a_third_face_between_them(
    tg: TelegramHarness, astronaut: np.ndarray, hanks: np.ndarray, group_photo: np.ndarray
) -> None:
    alice = tg.person()
    await save_face(tg, alice, png(astronaut), "eileen")
    await tg.feed(alice.photo(png(enlarged(hanks)), caption="/setface tom"))
    await tg.idle()
    x1, y1, x2, y2 = (int(v) for v in tg.engine.detect(group_photo)[0].box)
    pad = (x2 - x1) // 2
    target = enlarged(group_photo[max(0, y1 - pad) : y2 + pad, max(0, x1 - pad) : x2 + pad], 3)
    message = alice.photo(png(target))["message"]
    for command in ("/swap eileen", "/swap tom", "/swap eileen+tom"):
        await tg.feed(alice.text(command, reply_to_message=message))
        await tg.idle()
    eileen, tom, mixed = (decode_image(sent.data or b"").astype(np.float32) for sent in photos_to(tg, alice))
    (face,) = tg.engine.detect(target)
    x1, y1, x2, y2 = (int(v) for v in face.box)
    region = np.s_[y1:y2, x1:x2]
    to_eileen = np.abs(mixed[region] - eileen[region]).mean()
    to_tom = np.abs(mixed[region] - tom[region]).mean()
    apart = np.abs(eileen[region] - tom[region]).mean()
    assert 0 < to_eileen < apart and 0 < to_tom < apart, (to_eileen, to_tom, apart)
    assert (await alice.user()).balance == 0
