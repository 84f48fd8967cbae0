"""/privacy (what is kept, for how long) and /forget (delete it all, after a confirm button)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import discord
from discord import app_commands
from discord.ext import commands

from bot.discord.buttons import Field, SignedButton
from bot.discord.context import Asker, asker, reply
from bot.discord.describe import describe
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
            label = me.t("forget_yes" if yes else "forget_no")
            view.add_item(
                ForgetButton.signed(secret, interaction.user.id, label=label, user_id=me.user.id, yes=yes)
            )
        await reply(interaction, me.t("forget_confirm"), view=view)


class ForgetButton(SignedButton, prefix="fg", fields=(Field.owner_id(), Field.flag("yes"))):
    """Yes or no to /forget of our user ``user_id`` (signed for the Discord user who asked)."""

    user_id: int
    yes: bool

    def button_style(self) -> discord.ButtonStyle:
        return discord.ButtonStyle.danger if self.yes else discord.ButtonStyle.secondary

    async def stale(self, interaction: discord.Interaction[Any], me: Asker) -> str:
        # Ours from before a /forget: this identity has a new row since, and the old one is gone.
        gone = not await flow.exists(me.services, self.user_id)
        return "forget_nothing" if gone else self.refusal

    async def on_press(self, interaction: discord.Interaction[Any], me: Asker) -> None:
        if not self.yes:
            await interaction.response.edit_message(content=me.t("forget_kept"), view=None)
            return
        await interaction.response.defer()  # the deletion may take a moment: the message is edited after
        code, params = flow.forget_reply(await flow.forget(me.services, me.user))
        await interaction.edit_original_response(content=me.t(code, **params), view=None)
