"""Reports on Discord (rules: bot/flows/reports.py): the message menu "Report result" on a result the
bot posted, the admins told by DM; the admins' /reports (bot/discord/cogs/reports.py) with a signed
confirm / dismiss / ban button per report. discord.py requires context menus outside a cog."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

import discord
import structlog
from discord import app_commands

from bot.discord.context import asker, enter, reply, services_of
from bot.discord.errors import on_error
from bot.discord.signing import SIGNATURE, sign, verify
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


def payload(report_id: int, action: str) -> str:
    return f"{PREFIX}:{report_id}:{action}"


def buttons(services: Any, admin_id: int, report_id: int, t: Any) -> list[ReportButton]:
    secret = services.config.secret_key
    return [
        ReportButton(report_id, action, sign(secret, admin_id, payload(report_id, action)), t)
        for action in ACTIONS
    ]


class ReportButton(
    discord.ui.DynamicItem[discord.ui.Button[Any]],
    template=re.compile(PREFIX + r":(?P<report>\d{1,19}):(?P<action>[a-z]{1,16}):" + SIGNATURE),
):
    """An admin's decision on a report, signed for the admin it was shown to."""

    def __init__(self, report_id: int, action: str, signature: str, t: Any = None) -> None:
        self.report_id, self.action, self.signature = report_id, action, signature
        label = t(f"report_action_{action}") if t is not None else "…"
        style = discord.ButtonStyle.danger if action == "ban" else discord.ButtonStyle.secondary
        custom_id = f"{payload(report_id, action)}:{signature}"
        super().__init__(discord.ui.Button(label=label, custom_id=custom_id, style=style))

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction[Any], item: discord.ui.Item[Any], match: re.Match[str], /
    ) -> ReportButton:
        return cls(int(match["report"]), match["action"], match["sig"])

    async def callback(self, interaction: discord.Interaction[Any]) -> None:
        try:
            await self._press(interaction)
        except Exception as exc:
            await on_error(interaction, exc)

    async def _press(self, interaction: discord.Interaction[Any]) -> None:
        services = services_of(interaction)
        who = interaction.user.id
        signed = verify(services.config.secret_key, who, payload(self.report_id, self.action), self.signature)
        me = await enter(interaction)
        if not signed or not services.config.is_admin("discord", who) or self.action not in ACTIONS:
            await reply(interaction, me.t("admin_only"))
            return
        decided = await flow.decide(services, self.report_id, flow.Action(self.action), f"discord:{who}")
        text = me.t(
            decided.code,
            id=decided.report_id,
            who=decided.who,
            count=decided.count,
            threshold=decided.threshold,
        )
        await interaction.response.edit_message(content=text, view=None)
