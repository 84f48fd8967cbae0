"""Who is asking and how to answer them, for every interaction (commands, the context menu, buttons).

``enter`` runs first (the tree's ``interaction_check``, and each button): the user from bot/people.py
(platform "discord"), a banned user answered once and then silence, the language from the
interaction's locale, and the shared per-user bucket with the daily cap on work. Answers are
ephemeral; ``Status`` acknowledges at once (a defer) and opens the job's status message, the original
response, which the worker edits ("queued (#n)", "working", "done") while the token is valid.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import discord
import structlog
from discord import app_commands

from bot import people
from bot.flows import settings as settings_flow
from bot.flows.base import Answer, Photo
from bot.people import Translate
from bot.services import Services
from db.jobs import Delivery
from db.models import User
from jobs.request import InputRef

if TYPE_CHECKING:
    from bot.discord.client import SwapBot

PLATFORM = "discord"
# Discord keeps an interaction's token (followups, edits of the original response) for 15 minutes.
TOKEN_LIFETIME = timedelta(minutes=15)
EXTRAS_KEY = "swapbot"


class Refused(app_commands.AppCommandError):
    """A refusal with the catalogue's ``code`` and ``params``: the tree's error handler says it,
    ephemeral, in the user's language."""

    def __init__(self, code: str, params: dict[str, Any] | None = None) -> None:
        self.code = code
        self.params = params or {}
        super().__init__(code)


class Silenced(app_commands.CheckFailure):
    """Nothing more is said (a banned user who was told once)."""


@dataclass
class Asker:
    """The person behind an interaction, as the flows need them."""

    services: Services
    user: User
    language: str
    t: Translate


def language_of(locale: discord.Locale | str | None) -> str:
    """``ru`` -> ru, ``en-US`` -> en; a language the catalogue lacks -> en."""
    code = people.language_code(str(locale) if locale is not None else None)
    return code if code in settings_flow.LANGUAGES else "en"


def services_of(interaction: discord.Interaction[Any]) -> Services:
    client: SwapBot = interaction.client
    return client.services


def asker(interaction: discord.Interaction[Any]) -> Asker:
    """The asker ``enter`` found for this interaction."""
    found = interaction.extras.get(EXTRAS_KEY)
    if not isinstance(found, Asker):
        raise RuntimeError("enter() did not run for this interaction")
    return found


def translator(interaction: discord.Interaction[Any]) -> Translate:
    """The asker's ``t``, or one in the interaction's locale before (or without) ``enter``."""
    found = interaction.extras.get(EXTRAS_KEY)
    if isinstance(found, Asker):
        return found.t
    return discord_translator(services_of(interaction), language_of(interaction.locale))


def discord_translator(services: Services, language: str) -> Translate:
    """``t(code, **params)``: the catalogue's ``discord_<code>`` where there is one (a sentence that
    names Telegram's commands has a Discord twin naming the slash commands), else ``<code>``."""
    text = services.texts.text
    twins = services.texts.languages["en"]

    def t(code: str, **params: Any) -> str:
        twin = f"discord_{code}"
        return text(twin if twin in twins else code, language, **params)

    return t


async def enter(interaction: discord.Interaction[Any], *, work: bool = False) -> Asker:
    """The user behind ``interaction``, admitted: raises ``Silenced`` for a banned user (told once) and
    ``Refused`` over the per-user bucket or, with ``work``, over the daily cap."""
    found = interaction.extras.get(EXTRAS_KEY)
    if isinstance(found, Asker):
        return found
    # Every line logged while this interaction is handled names it: discord.py runs each command and
    # each button press in a task of its own, whose structlog contextvars these are.
    structlog.contextvars.bind_contextvars(interaction_id=interaction.id, discord_user_id=interaction.user.id)
    services = services_of(interaction)
    language = language_of(interaction.locale)
    who = interaction.user
    entry = await people.enter(
        services, PLATFORM, who.id, display_name=who.global_name or who.name, language=language
    )
    user = entry.user
    t = discord_translator(services, language)
    if user.is_banned:
        if await people.first_ban_notice(services, user):
            await reply(interaction, t("banned"))
        raise Silenced("banned")
    if user.language != language:
        # The worker speaks the user's stored language: follow the Discord client's.
        await settings_flow.set_language(services, user, language)
    verdict = await services.limiter.hit(people.limit_key(user), daily=work)
    if not verdict.allowed:
        raise Refused(*people.refusal_of(verdict))
    structlog.contextvars.bind_contextvars(user_id=user.id)
    found = Asker(services, user, language, t)
    interaction.extras[EXTRAS_KEY] = found
    return found


async def reply(
    interaction: discord.Interaction[Any], text: str, *, view: discord.ui.View | None = None
) -> None:
    """An ephemeral answer: the response; once deferred, the deferred message (the status message, when
    one was opened: a flow that opened it and then did not submit says why there, as Telegram's
    status message does); else an ephemeral followup."""
    extra: dict[str, Any] = {} if view is None else {"view": view}
    if not interaction.response.is_done():
        await interaction.response.send_message(text, ephemeral=True, **extra)
    elif interaction.extras.get("deferred"):
        await interaction.edit_original_response(content=text, **extra)
    else:
        await interaction.followup.send(text, ephemeral=True, **extra)


async def say(interaction: discord.Interaction[Any], answer: Answer) -> None:
    await reply(interaction, translator(interaction)(answer.code, **answer.params))


async def defer(interaction: discord.Interaction[Any]) -> None:
    """Acknowledge now (ephemeral, "thinking") for an answer that may take longer than Discord's three
    seconds; ``reply`` then edits the deferred message."""
    if not interaction.response.is_done():
        await interaction.response.defer(ephemeral=True, thinking=True)
        interaction.extras["deferred"] = True


class Status:
    """Acknowledges ``interaction`` (an ephemeral defer: the status and refusals are for the asker;
    the result arrives as a public followup) and opens the job's status message when the flow submits."""

    def __init__(self, interaction: discord.Interaction[Any]) -> None:
        self.interaction = interaction

    async def defer(self) -> None:
        await defer(self.interaction)

    async def open(self) -> Delivery:
        interaction = self.interaction
        await self.defer()
        t = translator(interaction)
        message = await interaction.edit_original_response(content=t("job_status_opening"))
        return delivery_for(interaction, message.id)

    async def show(self, answer: Answer, *, view: discord.ui.View | None = None) -> None:
        """The flow's answer (with ``view``'s buttons): nothing when a new job was submitted (its status
        message tells the rest)."""
        if answer.submitted and not answer.again:
            return
        await reply(self.interaction, translator(self.interaction)(answer.code, **answer.params), view=view)


def delivery_for(interaction: discord.Interaction[Any], message_id: int) -> Delivery:
    """Where the job reports: the original response ``message_id`` and the interaction token (until it
    expires), then the channel (the notifier falls back to a DM)."""
    channel = interaction.channel_id or interaction.user.id
    return Delivery(
        PLATFORM,
        str(channel),
        str(message_id),
        interaction.token,
        interaction.created_at + TOKEN_LIFETIME,
    )


def photo_of(attachment: discord.Attachment) -> Photo:
    """An attachment as the flows' photo: refused before any work when too large or not an image."""
    return Photo(
        InputRef.discord(attachment.url, attachment.id),
        size=attachment.size,
        as_file=True,
        mime=attachment.content_type,
        filename=attachment.filename,
    )


def check_attachment(interaction: discord.Interaction[Any], attachment: discord.Attachment) -> Photo:
    """The photo, or ``Refused`` over the interaction's upload limit (Discord's rule; whether it is a
    picture, and our own size limit, the flows check: bot/flows/base.check_photo)."""
    limit = upload_limit(interaction)
    if attachment.size > limit:
        raise Refused("file_too_large", {"size": attachment.size, "max_bytes": limit})
    photo = photo_of(attachment)
    return dataclasses.replace(photo, channel_nsfw=True) if channel_is_nsfw(interaction) else photo


def channel_is_nsfw(interaction: discord.Interaction[Any]) -> bool:
    """The channel (or a thread's parent) is age-restricted; a DM or an unresolved channel is not."""
    is_nsfw = getattr(interaction.channel, "is_nsfw", None)
    return bool(is_nsfw()) if callable(is_nsfw) else False


DEFAULT_UPLOAD_LIMIT = 25 * 1024 * 1024  # Discord's limit without boosts


def upload_limit(interaction: discord.Interaction[Any]) -> int:
    """The interaction's ``attachment_size_limit`` (discord.py's ``filesize_limit``), else 25 MB."""
    limit = getattr(interaction, "filesize_limit", None)
    return int(limit) if isinstance(limit, int) and limit > 0 else DEFAULT_UPLOAD_LIMIT
