"""Consent to the terms before the first swap (rules: bot/flows/consent.py): ``ask`` answers the
command with the question (ephemeral) and its two buttons, signed for the asker, in place of the swap;
``ConsentButton`` records the answer."""

from __future__ import annotations

import re
from typing import Any

import discord

from bot.discord.context import Asker, enter, reply, services_of
from bot.discord.errors import on_error
from bot.discord.signing import SIGNATURE, sign, verify
from bot.flows import consent as flow

PREFIX = "tc"
VERSION = r"[A-Za-z0-9._-]{1,32}"  # SWAPBOT_TERMS_VERSION's form (swapbot/settings.py)


def _payload(user_id: int, version: str, yes: bool) -> str:
    return f"{PREFIX}:{user_id}:{version}:{int(yes)}"


async def ask(interaction: discord.Interaction[Any], me: Asker) -> bool:
    """True when the asker must agree first: the question went out and the caller swaps nothing."""
    if not flow.needed(me.services, me.user):
        return False
    await reply(interaction, me.t(flow.ASK), view=question(me, interaction.user.id))
    return True


def question(me: Asker, discord_user_id: int) -> discord.ui.View:
    version = me.services.config.terms_version
    view = discord.ui.View(timeout=None)
    for yes in (True, False):
        signature = sign(me.services.config.secret_key, discord_user_id, _payload(me.user.id, version, yes))
        view.add_item(ConsentButton(me.user.id, version, yes, signature, me.t))
    return view


class ConsentButton(
    discord.ui.DynamicItem[discord.ui.Button[Any]],
    template=re.compile(rf"{PREFIX}:(?P<user>\d{{1,19}}):(?P<version>{VERSION}):(?P<yes>[01]):{SIGNATURE}"),
):
    """Agree (or not) to terms ``version``, asked of our user ``user`` (signed for the Discord user)."""

    def __init__(self, user_id: int, version: str, yes: bool, signature: str, t: Any = None) -> None:
        self.user_id, self.version, self.yes, self.signature = user_id, version, yes, signature
        label = t("consent_yes" if yes else "consent_no") if t is not None else "…"
        style = discord.ButtonStyle.success if yes else discord.ButtonStyle.secondary
        custom_id = f"{_payload(user_id, version, yes)}:{signature}"
        super().__init__(discord.ui.Button(label=label, custom_id=custom_id, style=style))

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction[Any], item: discord.ui.Item[Any], match: re.Match[str], /
    ) -> ConsentButton:
        return cls(int(match["user"]), match["version"], match["yes"] == "1", match["sig"])

    async def callback(self, interaction: discord.Interaction[Any]) -> None:
        try:
            await self._press(interaction)
        except Exception as exc:
            await on_error(interaction, exc)

    async def _press(self, interaction: discord.Interaction[Any]) -> None:
        services = services_of(interaction)
        payload = _payload(self.user_id, self.version, self.yes)
        signed = verify(services.config.secret_key, interaction.user.id, payload, self.signature)
        me = await enter(interaction)
        if not signed or self.user_id != me.user.id:
            await reply(interaction, me.t("not_your_button"))
            return
        if not self.yes:
            await interaction.response.edit_message(content=me.t("consent_declined"), view=None)
            return
        agreed = await flow.agree(services, me.user, self.version)
        if agreed is flow.Agreed.STALE:
            text = f"{me.t(agreed.value)}\n\n{me.t(flow.ASK)}"
            await interaction.response.edit_message(content=text, view=question(me, interaction.user.id))
            return
        await interaction.response.edit_message(content=me.t(agreed.value), view=None)
