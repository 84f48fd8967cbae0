"""What an interaction that failed is told: the tree's ``on_error`` (and the buttons', which share it)
maps our codes to catalogue sentences in the asker's language, ephemeral, each saying what to do."""

from __future__ import annotations

from typing import Any

import discord
import structlog
from discord import app_commands

from bot import people
from bot.discord.context import Refused, Silenced, reply, services_of, translator
from jobs.errors import error_params

log = structlog.get_logger("bot.discord")


class NotAdmin(app_commands.CheckFailure):
    """An admin command from someone who is not in SWAPBOT_ADMIN_IDS."""


def sentence(interaction: discord.Interaction[Any], error: BaseException) -> str | None:
    """The sentence for ``error``; None to say nothing (a banned user told once already)."""
    t = translator(interaction)
    if isinstance(error, app_commands.CommandInvokeError):
        error = error.original
    if isinstance(error, Silenced):
        return None
    if isinstance(error, Refused):
        return t(error.code, **error.params)
    if isinstance(error, app_commands.CommandOnCooldown):
        code, params = people.wait_refusal(error.retry_after)
        return t(code, **params)
    if isinstance(error, NotAdmin):
        return t("admin_only")
    code = getattr(error, "code", None)  # our typed failures (CheckoutFailed, db errors) carry one
    if isinstance(code, str) and code in services_of(interaction).texts.languages["en"]:
        return t(code, **error_params(error))
    log.error(
        "interaction failed",
        interaction_id=interaction.id,
        command=interaction.command.qualified_name if interaction.command else None,
        error=repr(error),
        exc_info=error,
    )
    return t("sorry_error")


async def on_error(interaction: discord.Interaction[Any], error: BaseException) -> None:
    text = sentence(interaction, error)
    if text is None:
        return
    try:
        await reply(interaction, text)
    except discord.HTTPException as exc:  # the token died meanwhile: nobody to tell
        log.info("error not told", interaction_id=interaction.id, error=repr(exc))
