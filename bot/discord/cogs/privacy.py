"""/privacy (what is kept, for how long) and /forget (delete it all, after a confirm button)."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

import discord
from discord import app_commands
from discord.ext import commands

from bot.discord.context import asker, enter, reply, services_of
from bot.discord.describe import describe
from bot.discord.errors import on_error
from bot.discord.signing import SIGNATURE, sign, verify
from bot.flows import privacy as flow

if TYPE_CHECKING:
    from bot.discord.client import SwapBot


class PrivacyCog(commands.Cog):
    def __init__(self, bot: SwapBot) -> None:
        self.bot = bot

    @app_commands.command(name="privacy", description=describe("command_privacy"))
    async def privacy(self, interaction: discord.Interaction[SwapBot]) -> None:
        me = asker(interaction)
        kept = await flow.kept(me.services, me.user)
        await reply(interaction, me.t("privacy", faces=kept.faces, retention_hours=kept.retention_hours))

    @app_commands.command(name="forget", description=describe("command_forget"))
    async def forget(self, interaction: discord.Interaction[SwapBot]) -> None:
        me = asker(interaction)
        secret = me.services.config.secret_key
        view = discord.ui.View(timeout=None)
        for yes in (True, False):
            payload = f"fg:{me.user.id}:{int(yes)}"
            view.add_item(ForgetButton(me.user.id, yes, sign(secret, interaction.user.id, payload), me.t))
        await reply(interaction, me.t("forget_confirm"), view=view)


class ForgetButton(
    discord.ui.DynamicItem[discord.ui.Button[Any]],
    template=re.compile(rf"fg:(?P<user>\d{{1,19}}):(?P<yes>[01]):{SIGNATURE}"),
):
    """Yes or no to /forget of our user ``user`` (signed for the Discord user who asked)."""

    def __init__(self, user_id: int, yes: bool, signature: str, t: Any = None) -> None:
        self.user_id, self.yes, self.signature = user_id, yes, signature
        label = t("forget_yes" if yes else "forget_no") if t is not None else "…"
        style = discord.ButtonStyle.danger if yes else discord.ButtonStyle.secondary
        super().__init__(
            discord.ui.Button(label=label, custom_id=f"fg:{user_id}:{int(yes)}:{signature}", style=style)
        )

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction[Any], item: discord.ui.Item[Any], match: re.Match[str], /
    ) -> ForgetButton:
        return cls(int(match["user"]), match["yes"] == "1", match["sig"])

    async def callback(self, interaction: discord.Interaction[Any]) -> None:
        try:
            await self._press(interaction)
        except Exception as exc:
            await on_error(interaction, exc)

    async def _press(self, interaction: discord.Interaction[Any]) -> None:
        services = services_of(interaction)
        payload = f"fg:{self.user_id}:{int(self.yes)}"
        signed = verify(services.config.secret_key, interaction.user.id, payload, self.signature)
        me = await enter(interaction)
        if not signed or self.user_id != me.user.id:
            # Someone else's button, or ours from before a /forget (this identity has a new row since).
            gone = signed and not await flow.exists(services, self.user_id)
            await reply(interaction, me.t("forget_nothing" if gone else "not_your_button"))
            return
        if not self.yes:
            await interaction.response.edit_message(content=me.t("forget_kept"), view=None)
            return
        await interaction.response.defer()  # the deletion may take a moment: the message is edited after
        code, params = flow.forget_reply(await flow.forget(services, me.user))
        await interaction.edit_original_response(content=me.t(code, **params), view=None)
