"""Caricatures through the bot with the real classic engine: /caricature as a reply or before the photo,
the style buttons (exactly the configured styles) and the strength buttons, one paid job per choice;
a press by someone else finds no photo of theirs and changes nothing."""

from __future__ import annotations

import numpy as np
import pytest

from bot.telegram.keyboards import CaricatureStrength
from engine.imageio import decode_image
from tests.telegram.conftest import TelegramHarness
from tests.telegram.swapkit import button_data, buttons, changed_inside_only, enlarged, photos_to, png

pytestmark = pytest.mark.engine("classic")


@pytest.mark.parametrize("style", ["warp", "cartoon", "both"])
async def test_each_local_style_draws_a_caricature(
    tg: TelegramHarness, hanks: np.ndarray, style: str
) -> None:
    alice = tg.person()
    await tg.feed(alice.text("/start"))
    target = enlarged(hanks)
    photo = alice.photo(png(target))["message"]
    await tg.feed(alice.text("/caricature", reply_to_message=photo))
    styles = buttons(tg, "sendMessage")
    assert [row[0]["text"] for row in styles] == ["Warp", "Cartoon", "Warp + cartoon"]
    menu = tg.telegram.sent_to(alice.id, "message")[-1].message_id
    await tg.feed(
        alice.press(
            button_data(styles, {"warp": "Warp", "cartoon": "Cartoon", "both": "Warp + cartoon"}[style]), menu
        )
    )
    strengths = tg.telegram.called("editMessageText")[-1]["reply_markup"]["inline_keyboard"]
    assert [b["text"] for b in strengths[0]] == ["×0.5", "×1", "×2"]
    await tg.feed(alice.press(button_data(strengths, "×2"), menu))
    await tg.idle()

    (result,) = photos_to(tg, alice)
    assert result.caption == "Credits left: 2."
    (face,) = tg.engine.detect(target)
    inside, _ = changed_inside_only(target, decode_image(result.data or b""), face.box)
    assert inside > 5
    assert (await alice.user()).balance == 2


async def test_caricature_before_the_photo_and_a_foreign_press(
    tg: TelegramHarness, hanks: np.ndarray
) -> None:
    alice, mallory = tg.person(), tg.person("Mallory")
    await tg.feed(mallory.text("/start"), alice.text("/start"))
    await tg.feed(alice.text("/caricature"))
    assert alice.texts()[-1] == "Send the photo to draw a caricature of."
    await tg.feed(alice.photo(png(enlarged(hanks))))
    menu = tg.telegram.sent_to(alice.id, "message")[-1].message_id
    assert not photos_to(tg, alice)  # the photo went to the caricature, not to a swap

    forged = CaricatureStrength(style="warp", strength=1.0).pack()
    await tg.feed(mallory.press(forged, menu))
    assert "not yours" in tg.telegram.called("answerCallbackQuery")[-1]["text"]
    await tg.idle()
    assert not photos_to(tg, alice) and not photos_to(tg, mallory)
    assert (await mallory.user()).balance == 3

    await tg.feed(alice.press(forged, menu))
    await tg.idle()
    assert len(photos_to(tg, alice)) == 1
    assert (await alice.user()).balance == 2
