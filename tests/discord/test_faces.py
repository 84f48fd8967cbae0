"""/face save|list|default|delete with the classic engine, the save picker on a group photo, and the
name autocomplete (own faces only; ``face:anna+b`` completes the mixed name)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from db import faces as db_faces
from tests.discord.conftest import DiscordHarness
from tests.discord.kit import button_id, buttons, enlarged, png, save_face

pytestmark = pytest.mark.engine("classic")


async def test_save_list_default_delete(dc: DiscordHarness, astronaut: np.ndarray, hanks: np.ndarray) -> None:
    alice = dc.person()
    await save_face(dc, alice, png(astronaut), "eileen")
    await save_face(dc, alice, png(enlarged(hanks)), "tom")
    listed = dc.last(await dc.dispatch(alice.command("face", "list")))
    assert listed.ephemeral
    assert (listed.content or "").splitlines()[1:] == ["★ eileen", "• tom"]

    made = dc.last(await dc.dispatch(alice.command("face", "default", name="tom")))
    assert made.content == "tom is now your default face."
    listed = dc.last(await dc.dispatch(alice.command("face", "list")))
    assert (listed.content or "").splitlines()[1:] == ["• eileen", "★ tom"]

    taken = await dc.dispatch(alice.command("face", "save", name="tom", image=alice.attach(png(astronaut))))
    assert dc.said(taken)[-1] == (
        "You already have a face called tom. Pick another name, or delete it with /face delete."
    )
    deleted = dc.last(await dc.dispatch(alice.command("face", "delete", name="eileen")))
    assert deleted.content == "Deleted eileen."
    # Someone else's face name is just unknown to them.
    bob = dc.person("bob")
    unknown = dc.last(await dc.dispatch(bob.command("face", "delete", name="tom")))
    assert unknown.content == "You have no saved face called tom. /face list shows their names."
    listed = dc.last(await dc.dispatch(alice.command("face", "list")))
    assert (listed.content or "").splitlines()[1:] == ["★ tom"]


async def test_saving_from_a_group_photo_offers_numbered_buttons(
    dc: DiscordHarness, group_photo: np.ndarray
) -> None:
    alice = dc.person()
    await dc.dispatch(alice.command("face", "save", name="friend", image=alice.attach(png(group_photo))))
    await dc.idle()
    (picker,) = dc.followups()  # the numbered preview with its buttons, from the worker
    assert picker.files and picker.payload["flags"] & 64
    assert [b["label"] for b in buttons(picker)] == ["1", "2", "3", "4", "5", "6"]
    chosen = dc.last(await dc.dispatch(alice.press(button_id(picker, "4"))))
    assert chosen.content == "Saved the face as friend. Send a photo to put it into."
    listed = dc.last(await dc.dispatch(alice.command("face", "list")))
    assert (listed.content or "").splitlines()[1:] == ["★ friend"]


@pytest.mark.engine("squares")
async def test_face_names_autocomplete_from_the_users_own_faces(dc: DiscordHarness) -> None:
    alice, bob = dc.person(), dc.person("bob")
    await dc.dispatch(alice.command("balance"))  # their rows exist
    await dc.dispatch(bob.command("balance"))
    for person, names in ((alice, ["anna", "andy", "bob"]), (bob, ["anton"])):
        user = await person.user()
        async with dc.db.transaction() as session:
            for name in names:
                await db_faces.save(
                    session, user.id, name, chip=b"\xff\xd8jpeg", landmarks=[[1, 2]] * 5,
                    embeddings={"dlib": np.zeros(128, np.float32).tobytes()},
                )  # fmt: skip

    assert await _choices(dc, alice.autocomplete("face", "delete", focused="name", value="an")) == [
        "anna",
        "andy",
    ]
    assert await _choices(dc, bob.autocomplete("face", "default", focused="name", value="")) == ["anton"]
    # /swap face: completes the part after the last "+", without repeating a face already named.
    mixed = await _choices(dc, alice.autocomplete("swap", focused="face", value="bob+a"))
    assert mixed == ["bob+anna", "bob+andy"]
    assert await _choices(dc, alice.autocomplete("swap", focused="face", value="anna+an")) == ["anna+andy"]
    # A suggestion over Discord's 100 characters would make it refuse the whole answer: none offered.
    long = "x" * 97 + "+an"  # 102 characters once completed
    assert await _choices(dc, alice.autocomplete("swap", focused="face", value=long)) == []


async def _choices(dc: DiscordHarness, payload: dict[str, Any]) -> list[str]:
    token = await dc.dispatch(payload)
    reply = dc.last(token)
    assert reply.type == 8  # APPLICATION_COMMAND_AUTOCOMPLETE_RESULT
    return [choice["value"] for choice in reply.payload["choices"]]
