"""/caricature image [style] [strength]: the style's choices are what the workers offer
(``services.config.caricature_styles``), so the command is built when the cog loads."""

from __future__ import annotations

from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot.discord.cogs.limits import WORK, WORK_PER_S, WORK_RATE
from bot.discord.context import Status, asker, check_attachment
from bot.discord.describe import describe
from bot.flows import caricature as flow

if TYPE_CHECKING:
    from bot.discord.client import SwapBot

DEFAULT_STRENGTH = 1.0


def caricature_command(styles: tuple[str, ...]) -> app_commands.Command:  # type: ignore[type-arg]
    style_choices = [
        app_commands.Choice(name=describe(f"caricature_style_{style}"), value=style) for style in styles
    ]
    strength_choices = [app_commands.Choice(name=f"×{s:g}", value=s) for s in flow.STRENGTHS]

    @app_commands.command(name="caricature", description=describe("command_caricature"), extras=WORK)
    @app_commands.describe(
        image=describe("discord_option_image"),
        style=describe("discord_option_style"),
        strength=describe("discord_option_strength"),
    )
    @app_commands.choices(style=style_choices)
    @app_commands.choices(strength=strength_choices)
    @app_commands.checks.cooldown(WORK_RATE, WORK_PER_S)
    async def caricature(
        interaction: discord.Interaction[SwapBot],
        image: discord.Attachment,
        style: str | None = None,
        strength: float | None = None,
    ) -> None:
        me = asker(interaction)
        photo = check_attachment(interaction, image)
        status = Status(interaction)
        await status.defer()
        chosen = style or flow.styles(me.services)[0]
        answer = await flow.caricature(
            me.services, me.user, photo, chosen, strength or DEFAULT_STRENGTH, status.open
        )
        await status.show(answer)

    return caricature


class CaricatureCog(commands.Cog):
    def __init__(self, bot: SwapBot) -> None:
        self.bot = bot
        self.command = caricature_command(bot.services.config.caricature_styles)

    async def cog_load(self) -> None:
        self.bot.tree.add_command(self.command)

    async def cog_unload(self) -> None:
        self.bot.tree.remove_command(self.command.name)
