"""/face save|list|default|delete: saved faces (rules: bot/flows/faces.py). Names autocomplete from the
asker's own faces."""

from __future__ import annotations

from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot.discord.cogs.limits import WORK, WORK_PER_S, WORK_RATE
from bot.discord.context import Status, asker, check_attachment, reply, say
from bot.discord.describe import describe
from bot.discord.picker import offer_again
from bot.flows import faces as flow
from bot.flows.base import Answer
from db import faces as db_faces

if TYPE_CHECKING:
    from bot.discord.client import SwapBot

MAX_CHOICES = 25  # Discord shows at most 25 suggestions
CHOICE_LENGTH = 100  # Discord refuses the whole answer when one suggestion is longer


class FacesCog(commands.GroupCog, group_name="face", group_description=describe("command_faces")):
    def __init__(self, bot: SwapBot) -> None:
        self.bot = bot
        super().__init__()

    @app_commands.command(name="save", description=describe("discord_command_face_save"), extras=WORK)
    @app_commands.describe(name=describe("discord_option_name"), image=describe("discord_option_image"))
    @app_commands.checks.cooldown(WORK_RATE, WORK_PER_S)
    async def save(
        self, interaction: discord.Interaction[SwapBot], name: str, image: discord.Attachment
    ) -> None:
        me = asker(interaction)
        photo = check_attachment(interaction, image)
        status = Status(interaction)
        await status.defer()
        answer = await flow.start_save(me.services, me.user, photo, name, status.open)
        await status.show(answer, view=offer_again(interaction, answer))

    @app_commands.command(name="list", description=describe("discord_command_face_list"))
    async def list_(self, interaction: discord.Interaction[SwapBot]) -> None:
        me = asker(interaction)
        faces = await flow.list_faces(me.services, me.user)
        if not faces:
            await reply(interaction, me.t("faces_empty"))
            return
        lines = [me.t("faces_title", count=len(faces), limit=db_faces.MAX_FACES)]
        lines += [me.t("faces_line", marker="★" if f.is_default else "•", name=f.name) for f in faces]
        await reply(interaction, "\n".join(lines))

    @app_commands.command(name="default", description=describe("discord_command_face_default"))
    @app_commands.describe(name=describe("discord_option_name"))
    async def default(self, interaction: discord.Interaction[SwapBot], name: str) -> None:
        me = asker(interaction)
        face_id = await _face_id(interaction, name)
        answer = await flow.make_default(me.services, me.user, face_id) if face_id else _unknown(name)
        await say(interaction, answer)

    @app_commands.command(name="delete", description=describe("discord_command_face_delete"))
    @app_commands.describe(name=describe("discord_option_name"))
    async def delete(self, interaction: discord.Interaction[SwapBot], name: str) -> None:
        me = asker(interaction)
        face_id = await _face_id(interaction, name)
        answer = await flow.delete(me.services, me.user, face_id) if face_id else _unknown(name)
        await say(interaction, answer)

    @default.autocomplete("name")
    @delete.autocomplete("name")
    async def name_autocomplete(
        self, interaction: discord.Interaction[SwapBot], current: str
    ) -> list[app_commands.Choice[str]]:
        return await face_names(interaction, current)


def _unknown(name: str) -> Answer:
    return Answer("face_name_not_found", {"name": name})


async def _face_id(interaction: discord.Interaction[SwapBot], name: str) -> int | None:
    me = asker(interaction)
    wanted = name.strip().casefold()
    faces = await flow.list_faces(me.services, me.user)
    return next((face.id for face in faces if face.name.casefold() == wanted), None)


async def face_names(
    interaction: discord.Interaction[SwapBot], current: str, *, mix: bool = False
) -> list[app_commands.Choice[str]]:
    """The asker's face names starting with what they typed; with ``mix``, the part after the last
    ``+`` is completed (``anna+b`` -> ``anna+bob``)."""
    me = asker(interaction)
    faces = await flow.list_faces(me.services, me.user)
    head, plus, typed = current.rpartition("+") if mix else ("", "", current)
    typed = typed.strip().casefold()
    taken = {part.strip().casefold() for part in head.split("+")} if plus else set()
    prefix = f"{head}+" if plus else ""
    names = [
        prefix + f.name
        for f in faces
        if f.name.casefold().startswith(typed)
        and f.name.casefold() not in taken
        and len(prefix + f.name) <= CHOICE_LENGTH
    ]
    return [app_commands.Choice(name=n, value=n) for n in names[:MAX_CHOICES]]
