"""Every cog, in the order the client adds them (``SwapBot.setup_hook``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from discord.ext import commands

from bot.discord.cogs.admin import AdminCog
from bot.discord.cogs.caricature import CaricatureCog
from bot.discord.cogs.credits import CreditsCog
from bot.discord.cogs.faces import FacesCog
from bot.discord.cogs.privacy import PrivacyCog
from bot.discord.cogs.reports import ReportsCog
from bot.discord.cogs.swap import SwapCog

if TYPE_CHECKING:
    from bot.discord.client import SwapBot


def all_cogs(bot: SwapBot) -> list[commands.Cog]:
    return [
        SwapCog(bot),
        FacesCog(bot),
        CaricatureCog(bot),
        CreditsCog(bot),
        PrivacyCog(bot),
        AdminCog(bot),
        ReportsCog(bot),
    ]
