"""The numbered face picker on Discord. When a photo has several faces and none was chosen (a /swap, a
/face save), the worker posts its numbered preview to the asker only (ephemeral), with these buttons on
the same message (``PickerMarkup``, the ``jobs.notify.ResultMarkup`` the composition root hands the
worker): a button per face, and All for a swap. Buttons are ``DynamicItem``s, so a press works after a
restart too; their custom ids are signed for the Discord user they were shown to, and the flow re-checks
the job and the saved face against the database (bot/flows/swap.check_picker)."""

from __future__ import annotations

from typing import Any

import discord

from bot.discord import consent
from bot.discord.buttons import Field, SignedButton
from bot.discord.context import Asker, asker, say
from bot.flows import faces as faces_flow
from bot.flows import swap as swap_flow
from bot.flows.pickers import Picker, picker_of
from bot.people import Translate
from bot.texts import Catalogue
from jobs.notify import Target

MAX_BUTTONS = 25  # Discord: 5 rows of 5
_JOB = r"[0-9a-f]{8,64}(?:\.\d+)?"  # a job's id without its "<kind>:"


class SwapPickButton(
    SignedButton, prefix="sp", fields=(Field.text("job", _JOB), Field.number("face"), Field.number("n"))
):
    """Saved face ``face`` onto face ``n`` (0: all faces) of the photo of swap ``job``."""

    job: str
    face: int
    n: int
    style = discord.ButtonStyle.primary

    async def on_press(self, interaction: discord.Interaction[Any], me: Asker) -> None:
        request = swap_flow.SwapRequest.choice(Picker.SWAP.job_id(self.job), self.n or None, self.face)
        await consent.go(interaction, me, request)  # terms changed since the photo: asked again first


class SavePickButton(SignedButton, prefix="fp", fields=(Field.text("job", _JOB), Field.number("n"))):
    """Save face ``n`` of analysis ``job`` under the name it was asked with."""

    job: str
    n: int
    style = discord.ButtonStyle.primary

    async def on_press(self, interaction: discord.Interaction[Any], me: Asker) -> None:
        await say(
            interaction, await faces_flow.pick(me.services, me.user, Picker.SAVE.job_id(self.job), self.n)
        )


def picker_view(
    secret: bytes, discord_user: int, picker: Picker, job_id: str, count: int, t: Translate, face: int | None
) -> discord.ui.View:
    """The buttons of ``picker`` for job ``job_id`` (a swap's: numbers and All, putting saved face
    ``face`` in; a save's: numbers), signed for the Discord user ``discord_user``."""
    short = Picker.short(job_id)
    view = discord.ui.View(timeout=None)
    numbers = list(range(1, count + 1))
    if picker is Picker.SWAP:
        assert face is not None
        for n in [*numbers[: MAX_BUTTONS - 1], 0]:
            label = str(n) if n else t("swap_all")
            view.add_item(SwapPickButton.signed(secret, discord_user, label=label, job=short, face=face, n=n))
    else:
        for n in numbers[:MAX_BUTTONS]:
            view.add_item(SavePickButton.signed(secret, discord_user, label=str(n), job=short, n=n))
    return view


class PickerMarkup:
    """The ``jobs.notify.ResultMarkup`` for Discord: a numbered preview that asks for a choice gets its
    picker, signed for the Discord user who sent the photo; labels in their language."""

    def __init__(self, texts: Catalogue, secret: bytes) -> None:
        self.texts = texts
        self.secret = secret

    def __call__(self, target: Target, face_count: int) -> discord.ui.View | None:
        picker = picker_of(target.kind, target.params)
        if picker is None or target.user_external_id is None:
            return None

        def t(code: str, **values: Any) -> str:
            return self.texts.text(code, target.language, **values)

        discord_user = int(target.user_external_id)
        return picker_view(self.secret, discord_user, picker, target.job_id, face_count, t, target.saved_face)


def offer_again(interaction: discord.Interaction[Any], answer: swap_flow.Answer) -> discord.ui.View | None:
    """The same photo again, whose picker went out before (``picker_sent_before``): its buttons once more,
    for this answer, since an ephemeral preview may be gone from the asker's screen."""
    again = answer.picker
    if answer.code != "picker_sent_before" or again is None:
        return None
    me = asker(interaction)
    secret = me.services.config.secret_key
    return picker_view(secret, interaction.user.id, again.picker, again.job_id, again.count, me.t, again.face)
