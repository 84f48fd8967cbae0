"""/swap target:<image> [source:<image>] [face:<name or a+b>] [faces:<1,3|all>] [enhance]."""

from __future__ import annotations

from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot.discord import consent
from bot.discord.cogs.faces import face_names
from bot.discord.cogs.limits import WORK, WORK_PER_S, WORK_RATE
from bot.discord.context import Refused, asker, check_attachment, say
from bot.discord.describe import describe
from bot.flows import swap as flow

if TYPE_CHECKING:
    from bot.discord.client import SwapBot


class SwapCog(commands.Cog):
    def __init__(self, bot: SwapBot) -> None:
        self.bot = bot

    @app_commands.command(name="swap", description=describe("command_swap"), extras=WORK)
    @app_commands.describe(
        target=describe("discord_option_target"),
        source=describe("discord_option_source"),
        face=describe("discord_option_face"),
        faces=describe("discord_option_faces"),
        enhance=describe("discord_option_enhance"),
    )
    @app_commands.checks.cooldown(WORK_RATE, WORK_PER_S)
    async def swap(
        self,
        interaction: discord.Interaction[SwapBot],
        target: discord.Attachment,
        source: discord.Attachment | None = None,
        face: str | None = None,
        faces: str | None = None,
        enhance: bool | None = None,
    ) -> None:
        me = asker(interaction)
        target_photo = check_attachment(interaction, target)
        source_photo = check_attachment(interaction, source) if source is not None else None
        try:
            numbers = flow.parse_face_numbers(faces)
        except ValueError:
            raise Refused("faces_invalid", {"faces": faces}) from None
        names = flow.parse_face_names(face)
        if source_photo is not None and names:
            raise Refused("source_and_face")
        options = flow.restorer_choice(me.services, me.user, enhance)
        if isinstance(options, flow.Answer):
            await say(interaction, options)
            return
        if source_photo is not None:
            request = flow.SwapRequest.album(source_photo, target_photo, faces=numbers, options=options)
        elif numbers is not None:
            request = flow.SwapRequest.numbered(target_photo, numbers, names=names, options=options)
        else:
            request = flow.SwapRequest.photo(target_photo, names=names, options=options)
        await consent.go(interaction, me, request)

    @swap.autocomplete("face")
    async def face_autocomplete(
        self, interaction: discord.Interaction[SwapBot], current: str
    ) -> list[app_commands.Choice[str]]:
        return await face_names(interaction, current, mix=True)
