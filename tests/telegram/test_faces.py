"""Saving faces through the bot with the real classic engine: one face is saved at once, several get
the numbered picker; /faces with make default, rename and delete; foreign presses change nothing."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from bot.flows import faces as faces_flow
from db import faces as db_faces
from tests.telegram.conftest import Person, TelegramHarness
from tests.telegram.swapkit import blank, button_data, buttons, png, save_face, status_texts

pytestmark = pytest.mark.engine("classic")


async def names_of(tg: TelegramHarness, user_id: int) -> list[str]:
    async with tg.db.session() as session:
        return [face.name for face in await db_faces.list_for_user(session, user_id)]


async def test_a_one_face_photo_is_saved_at_once_for_free(tg: TelegramHarness, astronaut: np.ndarray) -> None:
    alice = tg.person()
    await save_face(tg, alice, png(astronaut), "eileen")
    user = await alice.user()
    assert await names_of(tg, user.id) == ["eileen"]
    assert user.balance == 3  # saving is free
    assert not tg.telegram.called("sendPhoto")  # no picker for the only face

    # /setface then the photo; the same name again is refused before any work.
    await tg.feed(alice.text("/setface eileen"))
    await tg.feed(alice.photo(png(astronaut)))
    assert "already have a face called eileen" in alice.texts()[-1]


async def test_several_faces_get_the_picker_and_a_foreign_press_saves_nothing(
    tg: TelegramHarness, group_photo: np.ndarray
) -> None:
    alice, mallory = tg.person(), tg.person("Mallory")
    await tg.feed(mallory.text("/start"), alice.text("/start"))
    await tg.feed(alice.text("/setface"))
    await tg.feed(alice.photo(png(group_photo)))
    await tg.idle()
    rows = buttons(tg)
    assert [b["text"] for row in rows for b in row] == ["1", "2", "3", "4", "5", "6"]
    preview = tg.telegram.sent_to(alice.id, "photo")[-1]
    assert preview.caption is not None and "6" in preview.caption

    await tg.feed(mallory.press(button_data(rows, "3"), preview.message_id))
    answered = tg.telegram.called("answerCallbackQuery")[-1]
    assert "not yours" in answered["text"]
    assert await names_of(tg, (await mallory.user()).id) == []

    await tg.feed(alice.press(button_data(rows, "3"), preview.message_id))
    assert await names_of(tg, (await alice.user()).id) == ["face1"]
    assert "Saved the face as face1" in alice.texts()[-1]


async def test_faces_lists_and_its_buttons_rename_make_default_and_delete(
    tg: TelegramHarness, group_photo: np.ndarray
) -> None:
    alice, mallory = tg.person(), tg.person("Mallory")
    await tg.feed(mallory.text("/start"))
    await tg.feed(alice.text("/start"))
    await tg.feed(alice.photo(png(group_photo), caption="/setface one"))
    await tg.idle()
    preview = tg.telegram.sent_to(alice.id, "photo")[-1]
    await tg.feed(alice.press(button_data(buttons(tg), "1"), preview.message_id))
    await tg.feed(alice.photo(png(group_photo), caption="/setface two"))
    await tg.idle()
    preview = tg.telegram.sent_to(alice.id, "photo")[-1]
    await tg.feed(alice.press(button_data(buttons(tg), "2"), preview.message_id))
    user = await alice.user()
    assert await names_of(tg, user.id) == ["one", "two"]

    await tg.feed(alice.text("/faces"))
    listing = tg.telegram.sent_to(alice.id, "message")[-1]
    rows = buttons(tg, "sendMessage")
    assert rows[0][0]["text"] == "★ one" and rows[2][0]["text"] == "two"
    default_two, rename_two = rows[3][0]["callback_data"], rows[3][1]["callback_data"]
    delete_one = rows[1][2]["callback_data"]

    # Mallory presses Alice's buttons: nothing changes.
    for data in (default_two, delete_one):
        await tg.feed(mallory.press(data, listing.message_id))
        assert tg.telegram.called("answerCallbackQuery")[-1]["text"].startswith("That saved face no longer")
    assert await names_of(tg, user.id) == ["one", "two"]

    await tg.feed(alice.press(default_two, listing.message_id))
    async with tg.db.session() as session:
        default = await db_faces.get_default(session, user.id)
    assert default is not None and default.name == "two"

    await tg.feed(alice.press(rename_two, listing.message_id))
    await tg.feed(alice.text("anna"))
    assert alice.texts()[-1] == "Renamed two to anna."
    await tg.feed(alice.press(delete_one, listing.message_id))
    assert await names_of(tg, user.id) == ["anna"]


async def test_a_photo_without_a_face_says_so(tg: TelegramHarness) -> None:
    alice = tg.person()
    await tg.feed(alice.text("/start"))
    await tg.feed(alice.photo(blank(), caption="/setface me"))
    await tg.idle()
    assert any("could not find a face" in text for text in status_texts(tg, alice))
    assert await names_of(tg, (await alice.user()).id) == []
    assert (await alice.user()).balance == 3


async def test_the_same_photo_and_name_again_reuses_the_analysis(
    tg: TelegramHarness, astronaut: np.ndarray, group_photo: np.ndarray
) -> None:
    alice = tg.person()
    await tg.feed(alice.text("/start"))
    first = alice.photo(png(group_photo), caption="/setface crowd")
    await tg.feed(first)
    await tg.idle()
    await tg.feed(resent(alice, first))  # the same file (file_unique_id) again
    await tg.idle()
    assert len(tg.telegram.sent_to(alice.id, "photo")) == 1  # one analysis, one picker
    assert any("pick a face under its numbered picture above" in text for text in status_texts(tg, alice))

    # A one-face photo saved, deleted, then sent again under its name: saved again without a new analysis.
    single = alice.photo(png(astronaut), caption="/setface eileen")
    await tg.feed(single)
    await tg.idle()
    user = await alice.user()
    (eileen,) = [f for f in await faces_flow.list_faces(tg.services, user) if f.name == "eileen"]
    await faces_flow.delete(tg.services, user, eileen.id)
    analyses_before = len(tg.telegram.called("getFile"))
    await tg.feed(resent(alice, single))
    await tg.idle()
    assert "eileen" in await names_of(tg, user.id)
    assert len(tg.telegram.called("getFile")) == analyses_before  # nothing downloaded again


def resent(person: Person, update: dict[str, Any]) -> dict[str, Any]:
    message = update["message"]
    return person.message(**{key: message[key] for key in ("photo", "caption", "caption_entities")})
