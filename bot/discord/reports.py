"""Reports on Discord (rules: bot/flows/reports.py): the message menu "Report result" on a result the
bot posted, the admins told by DM; the admins' /reports (bot/discord/cogs/reports.py) with a signed
confirm / dismiss / ban button per report. discord.py requires context menus outside a cog."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import discord
import structlog
from discord import app_commands

from bot.discord.buttons import Field, SignedButton
from bot.discord.context import Asker, asker, reply
from bot.flows import reports as flow

if TYPE_CHECKING:
    from bot.discord.client import SwapBot

MENU_NAME = "Report result"
PREFIX = "rp"
ACTIONS = tuple(action.value for action in flow.Action)
log = structlog.get_logger("bot.discord.reports")


def report_menu() -> app_commands.ContextMenu:
    async def report_result(interaction: discord.Interaction[SwapBot], message: discord.Message) -> None:
        me = asker(interaction)
        attachments = tuple(str(attachment.id) for attachment in message.attachments)
        channel = str(message.channel.id) if message.channel is not None else ""
        made = await flow.report(me.services, me.user, channel, str(message.id), None, attachments)
        await reply(interaction, me.t(made.code))
        if made.made:
            await tell_admins(interaction.client, made)

    return app_commands.ContextMenu(name=MENU_NAME, callback=report_result)


async def tell_admins(client: discord.Client, made: flow.Made) -> None:
    """A DM to each Discord admin (best effort: one who shares no server with the bot, or blocks DMs,
    is not told, and the report stands anyway; /reports lists it)."""
    services = client.services  # type: ignore[attr-defined]
    for admin_id, text in await flow.admin_notices(services, "discord", made):
        try:
            channel = await client.create_dm(discord.Object(id=int(admin_id)))
            await channel.send(text)
        except Exception as exc:
            log.info("admin not told of a report", admin=admin_id, error=repr(exc))


def buttons(services: Any, admin_id: int, report_id: int, t: Any) -> list[ReportButton]:
    secret = services.config.secret_key
    return [
        ReportButton.signed(
            secret, admin_id, label=t(f"report_action_{action}"), report_id=report_id, action=action
        )
        for action in ACTIONS
    ]


class ReportButton(
    SignedButton, prefix=PREFIX, fields=(Field.number("report_id", 19), Field.text("action", r"[a-z]{1,16}"))
):
    """An admin's decision on a report, signed for the admin it was shown to."""

    report_id: int
    action: str
    refusal = "admin_only"

    def button_style(self) -> discord.ButtonStyle:
        return discord.ButtonStyle.danger if self.action == "ban" else discord.ButtonStyle.secondary

    async def allowed(self, interaction: discord.Interaction[Any], me: Asker) -> bool:
        return me.services.config.is_admin("discord", interaction.user.id) and self.action in ACTIONS

    async def on_press(self, interaction: discord.Interaction[Any], me: Asker) -> None:
        who = interaction.user.id
        decided = await flow.decide(me.services, self.report_id, flow.Action(self.action), f"discord:{who}")
        text = me.t(
            decided.code,
            id=decided.report_id,
            who=decided.who,
            count=decided.count,
            threshold=decided.threshold,
        )
        await interaction.response.edit_message(content=text, view=None)
