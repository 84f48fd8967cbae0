"""The Discord bot: a ``commands.Bot`` holding the services (no module globals), one cog per feature,
the "Swap my face in" message menu, the picker/forget/buy buttons (persistent ``DynamicItem``s), and
the command tree whose ``interaction_check`` admits the asker and whose ``on_error`` answers failures.
The bot never loads the engine: work goes through ``services.jobs``."""

from __future__ import annotations

from typing import Any

import discord
import structlog
from discord import app_commands
from discord.ext import commands

from bot import people
from bot.discord import errors
from bot.discord.cogs.credits import BuyButton, ResendButton
from bot.discord.cogs.limits import is_work
from bot.discord.cogs.privacy import ForgetButton
from bot.discord.cogs.registry import all_cogs
from bot.discord.consent import ConsentButton
from bot.discord.context import EXTRAS_KEY, PLATFORM, Asker, discord_translator, enter, language_of
from bot.discord.describe import CatalogueTranslator
from bot.discord.menu import swap_in_message
from bot.discord.picker import SavePickButton, SwapPickButton, offer_again
from bot.discord.reports import ReportButton, report_menu
from bot.flows import swap as swap_flow
from bot.services import Services

log = structlog.get_logger("bot.discord")


class SwapTree(app_commands.CommandTree["SwapBot"]):
    async def interaction_check(self, interaction: discord.Interaction[SwapBot], /) -> bool:
        if interaction.type is discord.InteractionType.autocomplete:
            return await _admit_quietly(interaction)
        await enter(interaction, work=is_work(interaction.command))
        return True

    async def on_error(
        self, interaction: discord.Interaction[SwapBot], error: app_commands.AppCommandError, /
    ) -> None:
        await errors.on_error(interaction, error)


async def _admit_quietly(interaction: discord.Interaction[SwapBot]) -> bool:
    """Autocomplete fires on every keystroke: no bucket, no answer to a banned user, just their row."""
    services = interaction.client.services
    language = language_of(interaction.locale)
    entry = await people.enter(services, PLATFORM, interaction.user.id, language=language)
    if entry.user.is_banned:
        return False
    interaction.extras[EXTRAS_KEY] = Asker(
        services, entry.user, language, discord_translator(services, language)
    )
    return True


class SwapBot(commands.Bot):
    def __init__(
        self,
        services: Services,
        *,
        dev_guild_id: int | None = None,
        sync_commands: bool = True,
        **options: Any,
    ) -> None:
        # Slash commands need no privileged intents; guilds keeps discord.py's channel cache sound.
        options.setdefault("intents", discord.Intents(guilds=True))
        super().__init__(
            command_prefix=commands.when_mentioned, tree_cls=SwapTree, help_command=None, **options
        )
        self.services = services
        self.dev_guild_id = dev_guild_id
        self.sync_commands = sync_commands

    async def setup_hook(self) -> None:
        for cog in all_cogs(self):
            await self.add_cog(cog)
        self.tree.add_command(swap_in_message())  # context menus cannot live in a cog
        self.tree.add_command(report_menu())
        self.add_dynamic_items(
            SwapPickButton, SavePickButton, ForgetButton, BuyButton, ResendButton, ConsentButton, ReportButton
        )
        await self.tree.set_translator(CatalogueTranslator(self.services.texts))
        if self.sync_commands:
            await self.sync()

    async def sync(self) -> list[app_commands.AppCommand]:
        """Publish the commands: to the development guild at once, or globally (Discord spreads global
        commands within the hour)."""
        if self.dev_guild_id is not None:
            guild = discord.Object(id=self.dev_guild_id)
            self.tree.copy_global_to(guild=guild)
            synced = await self.tree.sync(guild=guild)
        else:
            synced = await self.tree.sync()
        log.info("commands synced", count=len(synced), guild=self.dev_guild_id)
        return synced

    def picker_again(
        self, interaction: discord.Interaction[SwapBot], answer: swap_flow.Answer
    ) -> discord.ui.View | None:
        """``picker.offer_again``, reached through the client by the consent module: the picker's
        buttons ask for consent themselves, so that module cannot import them back."""
        return offer_again(interaction, answer)
