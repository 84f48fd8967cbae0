"""Consent to the terms before the first swap (rules: bot/flows/consent.py): ``go`` sends every swap
(the command, the context menu or a picker's button, as the flows understood it) through the flows'
gate, which holds it when the asker must agree first; the interaction is then answered with the
question (ephemeral) and its two buttons, signed for the asker and
naming the question; ``ConsentButton`` records the answer: "I agree" performs the held swap at once,
in the question's place, "No" drops it."""

from __future__ import annotations

from typing import Any

import discord

from bot.discord.buttons import Field, SignedButton
from bot.discord.context import Asker, Status, reply, say
from bot.flows import consent as flow
from bot.flows import swap as swap_flow

PREFIX = "tc"
VERSION = r"[A-Za-z0-9._-]{1,32}"  # SWAPBOT_TERMS_VERSION's form (swapbot/settings.py)


async def go(interaction: discord.Interaction[Any], me: Asker, request: swap_flow.SwapRequest) -> None:
    """``request`` through the one gate (bot/flows/consent.go), for this interaction: the consent
    question when it is asked, else the answer (its status message is the interaction's response), with
    the picker's buttons again when it is a photo whose picker went out before."""
    stopped = await flow.gate(me.services, me.user, request)  # answered at once, before any defer
    if stopped is not None and stopped.code == flow.ASK:
        view = question(me, interaction.user.id, str(stopped.params["question"]))
        await reply(interaction, me.t(flow.ASK), view=view)
        return
    if stopped is not None:
        await say(interaction, stopped)
        return
    await go_ahead(interaction, me, request)


def question(me: Asker, discord_user_id: int, question_id: str) -> discord.ui.View:
    version = me.services.config.terms_version
    view = discord.ui.View(timeout=None)
    secret = me.services.config.secret_key
    for yes in (True, False):
        label = me.t("consent_yes" if yes else "consent_no")
        view.add_item(
            ConsentButton.signed(
                secret,
                discord_user_id,
                label=label,
                user_id=me.user.id,
                version=version,
                yes=yes,
                question_id=question_id,
            )
        )
    return view


class ConsentButton(
    SignedButton,
    prefix=PREFIX,
    fields=(
        Field.owner_id(),
        Field.text("version", VERSION),
        Field.flag("yes"),
        Field.text("question_id", flow.QUESTION_CHARS),
    ),
):
    """Agree (or not) to terms ``version``, asked of our user ``user_id`` (signed for the Discord user)
    by question ``question_id``, whose swap waits on our side."""

    user_id: int
    version: str
    yes: bool
    question_id: str

    def button_style(self) -> discord.ButtonStyle:
        return discord.ButtonStyle.success if self.yes else discord.ButtonStyle.secondary

    async def on_press(self, interaction: discord.Interaction[Any], me: Asker) -> None:
        services = me.services
        if not self.yes:
            await flow.drop(services, me.user, self.question_id)
            await interaction.response.edit_message(content=me.t("consent_declined"), view=None)
            return
        agreed = await flow.agree(services, me.user, self.version)
        if agreed is flow.Agreed.STALE:  # the new terms are asked; the swap still waits for the answer
            asked = f"{me.t(agreed.value)}\n\n{me.t(flow.ASK)}"
            view = question(me, interaction.user.id, self.question_id)
            await interaction.response.edit_message(content=asked, view=view)
            return
        request = await flow.release(services, me.user, self.question_id)
        if request is None:  # nothing waits (expired, answered): run the command again
            await interaction.response.edit_message(content=me.t(agreed.value), view=None)
            return
        await interaction.response.edit_message(content=me.t("consent_agreed_swapping"), view=None)
        await go_ahead(interaction, me, request)


async def go_ahead(interaction: discord.Interaction[Any], me: Asker, request: swap_flow.SwapRequest) -> None:
    """``request`` once it passed the gate (or, held, after "I agree")."""
    status = Status(interaction)
    await status.defer()
    answer = await swap_flow.perform(me.services, me.user, request, status.open)
    await status.show(answer, view=interaction.client.picker_again(interaction, answer))
