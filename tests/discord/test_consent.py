"""The consent question keeps what asked it, on Discord (the real classic engine): after "I agree" the
/swap (with its source photo) or the "Swap my face in" menu goes ahead by itself, in the question's
place, charged once however often the button is pressed; "No" queues and charges nothing; a press by
someone else, a button with an invented question, or "I agree" pressed after "No" swaps nothing."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from bot.discord.consent import PREFIX
from bot.discord.signing import sign
from tests.discord.conftest import DiscordHarness, Person
from tests.discord.kit import enlarged, jobs_of, png, save_face

pytestmark = pytest.mark.engine("classic")


def _buttons(dc: DiscordHarness, token: str) -> dict[str, str]:
    """label -> custom id, of the question answering interaction ``token``."""
    payload = dc.last(token).payload
    assert str(payload.get("content") or "").startswith("Before your first swap"), payload
    rows = payload.get("components") or []
    return {b["label"]: b["custom_id"] for row in rows for b in row.get("components", [])}


def _swap(person: Person, target: np.ndarray, source: np.ndarray) -> dict[str, Any]:
    return person.command("swap", target=person.attach(png(target)), source=person.attach(png(source)))


async def test_a_swap_goes_ahead_after_agreeing_and_is_charged_once(
    dc: DiscordHarness, astronaut: np.ndarray, hanks: np.ndarray
) -> None:
    alice = dc.person(agreed=False)
    choices = _buttons(dc, await dc.dispatch(_swap(alice, enlarged(hanks), astronaut)))
    await dc.idle()
    assert await jobs_of(dc, alice) == [] and (await alice.user()).balance == 3

    pressed = await dc.dispatch(alice.press(choices["I agree"]))
    await dc.idle()
    said = dc.said(pressed)
    assert said[0] == dc.services.texts.text("consent_agreed_swapping", "en")
    assert said[-1] == "Done.", said
    (result,) = dc.followups()
    assert result.content == "Credits left: 2."
    (job,) = await jobs_of(dc, alice)
    assert (job.kind, job.status, job.deliver_token) == ("swap", "succeeded", pressed)

    again = await dc.dispatch(alice.press(choices["I agree"]))  # the same button, pressed again
    await dc.idle()
    assert dc.said(again) == [dc.services.texts.text("discord_consent_agreed", "en")]
    assert len(await jobs_of(dc, alice)) == 1 and (await alice.user()).balance == 2


async def test_the_menu_goes_ahead_after_agreeing(
    dc: DiscordHarness, astronaut: np.ndarray, hanks: np.ndarray
) -> None:
    bea = dc.person("bea", agreed=False)
    await save_face(dc, bea, png(astronaut), "me")  # saving a face asks nothing
    asked = await dc.dispatch(bea.menu("Swap my face in", bea.attach(png(enlarged(hanks)))))
    choices = _buttons(dc, asked)
    pressed = await dc.dispatch(bea.press(choices["I agree"]))
    await dc.idle()
    assert dc.said(pressed)[-1] == "Done.", dc.said(pressed)
    kinds = sorted((job.kind, job.status) for job in await jobs_of(dc, bea))
    assert kinds == [("analyze", "succeeded"), ("swap", "succeeded")]  # the saved face, the photo: one job
    assert (await bea.user()).balance == 2


async def test_no_foreign_and_invented_presses_swap_nothing(
    dc: DiscordHarness, astronaut: np.ndarray, hanks: np.ndarray
) -> None:
    cleo, mallory = dc.person("cleo", agreed=False), dc.person("mallory", agreed=False)
    choices = _buttons(dc, await dc.dispatch(_swap(cleo, enlarged(hanks), astronaut)))
    refused = dc.last(await dc.dispatch(mallory.press(choices["I agree"])))
    assert refused.content == "This button is not for you."

    # Mallory's own, correctly signed button naming cleo's question finds nothing of hers.
    mallory_id = (await mallory.user()).id
    question = choices["I agree"].split(":")[4]
    payload = f"{PREFIX}:{mallory_id}:1:1:{question}"
    forged = f"{payload}:{sign(dc.services.config.secret_key, mallory.id, payload)}"
    assert dc.said(await dc.dispatch(mallory.press(forged))) == [
        dc.services.texts.text("discord_consent_agreed", "en")
    ]
    # Cleo's signed button for a question never asked.
    cleo_id = (await cleo.user()).id
    payload = f"{PREFIX}:{cleo_id}:1:1:AAAAAAAA"
    invented = f"{payload}:{sign(dc.services.config.secret_key, cleo.id, payload)}"
    await dc.dispatch(cleo.press(invented))
    await dc.idle()
    assert await jobs_of(dc, cleo) == [] and await jobs_of(dc, mallory) == []

    # "No" drops the swap: her "I agree" pressed afterwards records her consent and swaps nothing.
    cleo_two = dc.person("cleo2", agreed=False)
    choices = _buttons(dc, await dc.dispatch(_swap(cleo_two, enlarged(hanks), astronaut)))
    no = dc.last(await dc.dispatch(cleo_two.press(choices["No"])))
    assert no.content == dc.services.texts.text("consent_declined", "en")
    await dc.dispatch(cleo_two.press(choices["I agree"]))
    await dc.idle()
    assert (await cleo_two.user()).terms_accepted_at is not None
    assert await jobs_of(dc, cleo_two) == [] and (await cleo_two.user()).balance == 3
