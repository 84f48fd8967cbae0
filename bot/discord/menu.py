"""The message context menu "Swap my face in": the asker's default saved face onto the first picture
attached to the message. discord.py requires context menus to be defined outside a cog."""

from __future__ import annotations

from typing import TYPE_CHECKING

import discord
from discord import app_commands

from bot.discord import consent
from bot.discord.cogs.limits import WORK, WORK_PER_S, WORK_RATE
from bot.discord.context import Refused, asker, check_attachment, photo_of
from bot.flows import swap as flow
from bot.flows.base import check_photo, is_image_file

if TYPE_CHECKING:
    from bot.discord.client import SwapBot

MENU_NAME = "Swap my face in"


def first_image(message: discord.Message) -> discord.Attachment | None:
    """The first attachment that says it is an image (a file without a type counts by its name)."""
    for attachment in message.attachments:
        if is_image_file(attachment.content_type, attachment.filename):
            return attachment
    return None


def swap_in_message() -> app_commands.ContextMenu:
    async def swap_in(interaction: discord.Interaction[SwapBot], message: discord.Message) -> None:
        me = asker(interaction)
        attachment = first_image(message)
        if attachment is None:
            if message.attachments:  # files, but none a picture: say which
                refused = check_photo(me.services, photo_of(message.attachments[0]))
                if refused is not None:
                    raise Refused(refused.code, dict(refused.params))
            raise Refused("no_image_in_message")
        photo = check_attachment(interaction, attachment)
        request = flow.SwapRequest.photo(photo)
        await consent.go(interaction, me, request)

    # The same cooldown as the heavy slash commands (a check set on the callback before it is wrapped).
    return app_commands.ContextMenu(
        name=MENU_NAME, callback=app_commands.checks.cooldown(WORK_RATE, WORK_PER_S)(swap_in), extras=WORK
    )
