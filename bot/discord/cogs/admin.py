"""Admin /stats and /grant, for the ids in SWAPBOT_ADMIN_IDS (``discord:<user id>``) only; anyone else
is told the command is for admins."""

from __future__ import annotations

from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot.discord.context import asker, reply, services_of
from bot.discord.describe import describe
from bot.discord.errors import NotAdmin
from bot.flows import admin as flow

if TYPE_CHECKING:
    from bot.discord.client import SwapBot


def admin_only(interaction: discord.Interaction[SwapBot]) -> bool:
    if not services_of(interaction).config.is_admin("discord", interaction.user.id):
        raise NotAdmin("admin only")
    return True


class AdminCog(commands.Cog):
    def __init__(self, bot: SwapBot) -> None:
        self.bot = bot

    @app_commands.command(name="stats", description=describe("discord_command_stats"))
    @app_commands.check(admin_only)
    async def stats(self, interaction: discord.Interaction[SwapBot]) -> None:
        me = asker(interaction)
        await reply(interaction, flow.stats_text(await flow.stats(me.services), me.t))

    @app_commands.command(name="grant", description=describe("discord_command_grant"))
    @app_commands.describe(who=describe("discord_option_who"), credits=describe("discord_option_credits"))
    @app_commands.check(admin_only)
    async def grant(
        self,
        interaction: discord.Interaction[SwapBot],
        who: str,
        credits: app_commands.Range[int, 1, flow.MAX_GRANT],
    ) -> None:
        me = asker(interaction)
        try:
            target = flow.parse_target(who, "discord")
        except ValueError:
            await reply(interaction, me.t("grant_usage"))
            return
        # The interaction's id is the command's identity: the same interaction handled twice grants once.
        done = await flow.grant(me.services, target, credits, command_key=f"discord:{interaction.id}")
        if done.outcome is flow.Outcome.NO_USER:
            await reply(interaction, me.t(done.outcome.value, who=done.who))
            return
        code = "grant_done" if done.outcome is flow.Outcome.DONE else "grant_already"
        await reply(interaction, me.t(code, credits=credits, who=done.who, balance=done.balance))
