"""One cog per feature; each is thin: it reads the interaction, calls a flow in bot/flows, answers."""

from __future__ import annotations

from typing import TYPE_CHECKING

from discord.ext import commands

if TYPE_CHECKING:
    from bot.discord.client import SwapBot

# Heavy commands (work on the queue): discord.py's own cooldown per user, beside the shared bucket.
WORK_RATE = 5
WORK_PER_S = 60.0


def all_cogs(bot: SwapBot) -> list[commands.Cog]:
    from bot.discord.cogs.admin import AdminCog
    from bot.discord.cogs.caricature import CaricatureCog
    from bot.discord.cogs.credits import CreditsCog
    from bot.discord.cogs.faces import FacesCog
    from bot.discord.cogs.privacy import PrivacyCog
    from bot.discord.cogs.reports import ReportsCog
    from bot.discord.cogs.swap import SwapCog

    return [
        SwapCog(bot),
        FacesCog(bot),
        CaricatureCog(bot),
        CreditsCog(bot),
        PrivacyCog(bot),
        AdminCog(bot),
        ReportsCog(bot),
    ]
