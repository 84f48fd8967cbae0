"""Consent to the terms before the first swap (rules: bot/flows/consent.py): ``ask`` holds the swap
that asked (the command, the context menu or a picker's button, as the flows understood it) and
answers the interaction with the question (ephemeral) and its two buttons, signed for the asker and
naming the question; ``ConsentButton`` records the answer: "I agree" performs the held swap at once,
in the question's place, "No" drops it."""

from __future__ import annotations

import re
from typing import Any

import discord

from bot.discord.context import Asker, Status, enter, reply, services_of
from bot.discord.errors import on_error
from bot.discord.signing import SIGNATURE, sign, verify
from bot.flows import consent as flow
from bot.flows import swap as swap_flow

PREFIX = "tc"
VERSION = r"[A-Za-z0-9._-]{1,32}"  # SWAPBOT_TERMS_VERSION's form (swapbot/settings.py)


def _payload(user_id: int, version: str, yes: bool, question: str) -> str:
    return f"{PREFIX}:{user_id}:{version}:{int(yes)}:{question}"


async def ask(interaction: discord.Interaction[Any], me: Asker, request: swap_flow.SwapRequest) -> bool:
    """True when the asker must agree first: ``request`` is held, the question went out and the caller
    swaps nothing."""
    if not flow.needed(me.services, me.user):
        return False
    question_id = await flow.hold(me.services, me.user, request)
    await reply(interaction, me.t(flow.ASK), view=question(me, interaction.user.id, question_id))
    return True


def question(me: Asker, discord_user_id: int, question_id: str) -> discord.ui.View:
    version = me.services.config.terms_version
    view = discord.ui.View(timeout=None)
    secret = me.services.config.secret_key
    for yes in (True, False):
        signature = sign(secret, discord_user_id, _payload(me.user.id, version, yes, question_id))
        view.add_item(ConsentButton(me.user.id, version, yes, question_id, signature, me.t))
    return view


class ConsentButton(
    discord.ui.DynamicItem[discord.ui.Button[Any]],
    template=re.compile(
        rf"{PREFIX}:(?P<user>\d{{1,19}}):(?P<version>{VERSION}):(?P<yes>[01]):"
        rf"(?P<question>{flow.QUESTION_CHARS}):{SIGNATURE}"
    ),
):
    """Agree (or not) to terms ``version``, asked of our user ``user`` (signed for the Discord user) by
    question ``question``, whose swap waits on our side."""

    def __init__(
        self, user_id: int, version: str, yes: bool, question_id: str, signature: str, t: Any = None
    ) -> None:
        self.user_id, self.version, self.yes, self.signature = user_id, version, yes, signature
        self.question_id = question_id
        label = t("consent_yes" if yes else "consent_no") if t is not None else "…"
        style = discord.ButtonStyle.success if yes else discord.ButtonStyle.secondary
        custom_id = f"{_payload(user_id, version, yes, question_id)}:{signature}"
        super().__init__(discord.ui.Button(label=label, custom_id=custom_id, style=style))

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction[Any], item: discord.ui.Item[Any], match: re.Match[str], /
    ) -> ConsentButton:
        return cls(int(match["user"]), match["version"], match["yes"] == "1", match["question"], match["sig"])

    async def callback(self, interaction: discord.Interaction[Any]) -> None:
        try:
            await self._press(interaction)
        except Exception as exc:
            await on_error(interaction, exc)

    async def _press(self, interaction: discord.Interaction[Any]) -> None:
        services = services_of(interaction)
        payload = _payload(self.user_id, self.version, self.yes, self.question_id)
        signed = verify(services.config.secret_key, interaction.user.id, payload, self.signature)
        me = await enter(interaction)
        if not signed or self.user_id != me.user.id:
            await reply(interaction, me.t("not_your_button"))
            return
        if not self.yes:
            await flow.drop(services, me.user, self.question_id)
            await interaction.response.edit_message(content=me.t("consent_declined"), view=None)
            return
        agreed = await flow.agree(services, me.user, self.version)
        if agreed is flow.Agreed.STALE:  # the new terms are asked; the swap still waits for the answer
            text = f"{me.t(agreed.value)}\n\n{me.t(flow.ASK)}"
            view = question(me, interaction.user.id, self.question_id)
            await interaction.response.edit_message(content=text, view=view)
            return
        request = await flow.release(services, me.user, self.question_id)
        if request is None:  # nothing waits (expired, answered): run the command again
            await interaction.response.edit_message(content=me.t(agreed.value), view=None)
            return
        await interaction.response.edit_message(content=me.t("consent_agreed_swapping"), view=None)
        await go_ahead(interaction, me, request)


async def go_ahead(interaction: discord.Interaction[Any], me: Asker, request: swap_flow.SwapRequest) -> None:
    """Perform ``request`` for this interaction (its status message is the interaction's response),
    and offer the numbered picker when it became an analysis of several faces."""
    status = Status(interaction)
    await status.defer()
    answer = await swap_flow.perform(me.services, me.user, request, status.open)
    interaction.client.offer_picker(interaction, answer)
    await status.show(answer)
