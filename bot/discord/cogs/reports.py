"""The admins' /reports: the recent open reports, each with its signed confirm / dismiss / ban buttons
(bot/discord/reports.py). Anyone else is told the command is for admins."""

from __future__ import annotations

from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot.discord.cogs.admin import admin_only
from bot.discord.context import asker, reply
from bot.discord.describe import describe
from bot.discord.reports import buttons
from bot.flows import reports as flow

if TYPE_CHECKING:
    from bot.discord.client import SwapBot


class ReportsCog(commands.Cog):
    def __init__(self, bot: SwapBot) -> None:
        self.bot = bot

    @app_commands.command(name="reports", description=describe("discord_command_reports"))
    @app_commands.check(admin_only)
    async def reports(self, interaction: discord.Interaction[SwapBot]) -> None:
        me = asker(interaction)
        listed = await flow.open_reports(me.services)
        if not listed:
            await reply(interaction, me.t("reports_none"))
            return
        # One message per report: a decision edits its own message (and drops its buttons).
        for item in listed:
            text = me.t(
                "reports_item",
                id=item.id,
                job=item.job_id or "-",
                owner=item.owner,
                reporter=item.reporter,
                reason=item.reason or me.t("report_no_reason"),
                confirmed=item.confirmed,
                threshold=me.services.config.report_ban_threshold,
            )
            view = discord.ui.View(timeout=None)
            for button in buttons(me.services, interaction.user.id, item.id, me.t):
                view.add_item(button)
            await _send(interaction, text, view)


async def _send(interaction: discord.Interaction[SwapBot], text: str, view: discord.ui.View) -> None:
    if not interaction.response.is_done():
        await interaction.response.send_message(text, ephemeral=True, view=view)
    else:
        await interaction.followup.send(text, ephemeral=True, view=view)
