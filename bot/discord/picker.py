"""The numbered face picker on Discord: when an analysis (of a /swap or /face save photo) finds several
faces, the worker posts the numbered preview; the bot then offers the asker, ephemeral, a button per
face (and All, for a swap). Buttons are ``DynamicItem``s, so a press works after a restart too; their
custom ids are signed for the Discord user they were shown to, and the flow re-checks the analysis
and the saved face against the database (bot/flows/swap.check_picker)."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

import discord
import structlog

from bot.discord import consent
from bot.discord.buttons import Field, SignedButton
from bot.discord.context import Asker, Status, asker, say, services_of
from bot.flows import faces as faces_flow
from bot.flows import swap as swap_flow
from bot.people import Translate
from bot.services import Services
from db import analyses
from db import jobs as db_jobs
from db.models import JobKind, JobStatus

if TYPE_CHECKING:
    from bot.discord.client import SwapBot

log = structlog.get_logger("bot.discord.picker")

ANALYSIS_PREFIX = "analyze:"
MAX_BUTTONS = 25  # Discord: 5 rows of 5
ROW = 5
# An analysis is looked at this often until it ends (the bot learns the face count from the database).
POLL_S = 0.5
OFFER_WITHIN_S = 14 * 60  # the buttons go out as a followup: only while the token lasts (15 min)
_JOB = r"[0-9a-f]{8,64}(?:\.\d+)?"  # an analysis's id without its "analyze:"


def short_job(job_id: str) -> str:
    return job_id.removeprefix(ANALYSIS_PREFIX)


class SwapPickButton(
    SignedButton, prefix="sp", fields=(Field.text("job", _JOB), Field.number("face"), Field.number("n"))
):
    """Saved face ``face`` onto face ``n`` (0: all faces) of analysis ``job``."""

    job: str
    face: int
    n: int
    style = discord.ButtonStyle.primary

    async def on_press(self, interaction: discord.Interaction[Any], me: Asker) -> None:
        request = swap_flow.SwapRequest.choice(ANALYSIS_PREFIX + self.job, self.n or None, self.face)
        if await consent.ask(interaction, me, request):  # terms changed since the photo: asked again first
            return
        status = Status(interaction)
        await status.defer()
        await status.show(await swap_flow.perform(me.services, me.user, request, status.open))


class SavePickButton(SignedButton, prefix="fp", fields=(Field.text("job", _JOB), Field.number("n"))):
    """Save face ``n`` of analysis ``job`` under the name it was asked with."""

    job: str
    n: int
    style = discord.ButtonStyle.primary

    async def on_press(self, interaction: discord.Interaction[Any], me: Asker) -> None:
        await say(
            interaction, await faces_flow.pick(me.services, me.user, ANALYSIS_PREFIX + self.job, self.n)
        )


def picker_view(services: Services, user_id: int, job: Any, count: int, t: Translate) -> discord.ui.View:
    """The buttons for analysis ``job`` (a swap's: numbers and All; a save's: numbers), signed for the
    Discord user ``user_id``."""
    secret = services.config.secret_key
    short = short_job(job.id)
    params = job.params or {}
    view = discord.ui.View(timeout=None)
    numbers = list(range(1, count + 1))
    if params.get("purpose") == "swap":
        face = int(params["face"])
        for n in [*numbers[: MAX_BUTTONS - 1], 0]:
            label = str(n) if n else t("swap_all")
            view.add_item(SwapPickButton.signed(secret, user_id, label=label, job=short, face=face, n=n))
    else:
        for n in numbers[:MAX_BUTTONS]:
            view.add_item(SavePickButton.signed(secret, user_id, label=str(n), job=short, n=n))
    return view


async def offer(interaction: discord.Interaction[Any], job_id: str, *, poll_s: float = POLL_S) -> None:
    """Wait for analysis ``job_id`` to end (while the interaction's token lasts) and, when it found
    several faces, offer its buttons to the asker (ephemeral). Never raises: the preview stands."""
    services = services_of(interaction)
    deadline = interaction.created_at.timestamp() + OFFER_WITHIN_S
    try:
        while True:
            async with services.db.session() as session:
                job = await db_jobs.get_or_none(session, job_id)
                if job is None or job.kind != JobKind.ANALYZE.value:
                    return
                if job.status == JobStatus.SUCCEEDED.value:
                    # The faces are counted once, when the analysis has stored them all.
                    count = await analyses.count(session, job_id)
                    break
            if job.status in (JobStatus.FAILED.value, JobStatus.CANCELLED.value):
                return
            if discord.utils.utcnow().timestamp() + poll_s >= deadline:
                return
            await asyncio.sleep(poll_s)
        if count < 2:
            return  # one face: the worker swapped or saved it by itself
        me = asker(interaction)
        view = picker_view(services, interaction.user.id, job, count, me.t)
        await interaction.followup.send(me.t("faces_found", count=count), view=view, ephemeral=True)
    except asyncio.CancelledError:
        raise
    except Exception as exc:
        log.warning("picker not offered", job_id=job_id, error=repr(exc))


def offer_picker(interaction: discord.Interaction[SwapBot], answer: swap_flow.Answer) -> None:
    """An analysis was asked for (now, or the same photo before): its buttons follow when it found
    several faces."""
    ticket = answer.ticket
    if ticket is None or not ticket.job_id.startswith(ANALYSIS_PREFIX):
        return
    if answer.submitted and (not answer.again or answer.code == "picker_sent_before"):
        bot = interaction.client
        bot.spawn(offer(interaction, ticket.job_id, poll_s=bot.picker_poll_s))
