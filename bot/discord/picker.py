"""The numbered face picker on Discord: when an analysis (of a /swap or /face save photo) finds several
faces, the worker posts the numbered preview; the bot then offers the asker, ephemeral, a button per
face (and All, for a swap). Buttons are ``DynamicItem``s, so a press works after a restart too; their
custom ids are signed for the Discord user they were shown to, and the flow re-checks the analysis
and the saved face against the database (bot/flows/swap.check_picker)."""

from __future__ import annotations

import asyncio
import re
from typing import TYPE_CHECKING, Any

import discord
import structlog

from bot.discord import consent
from bot.discord.context import Status, asker, enter, reply, say, services_of
from bot.discord.errors import on_error
from bot.discord.signing import SIGNATURE, sign, verify
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
_JOB = r"(?P<job>[0-9a-f]{8,64}(?:\.\d+)?)"


def short_job(job_id: str) -> str:
    return job_id.removeprefix(ANALYSIS_PREFIX)


class SwapPickButton(
    discord.ui.DynamicItem[discord.ui.Button[Any]],
    template=re.compile(rf"sp:{_JOB}:(?P<face>\d+):(?P<n>\d+):{SIGNATURE}"),
):
    """Saved face ``face`` onto face ``n`` (0: all faces) of analysis ``job``."""

    def __init__(self, job: str, face: int, n: int, signature: str, label: str = "…") -> None:
        self.job, self.face, self.n, self.signature = job, face, n, signature
        super().__init__(
            discord.ui.Button(
                label=label, custom_id=f"sp:{job}:{face}:{n}:{signature}", style=discord.ButtonStyle.primary
            )
        )

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction[Any], item: discord.ui.Item[Any], match: re.Match[str], /
    ) -> SwapPickButton:
        return cls(match["job"], int(match["face"]), int(match["n"]), match["sig"])

    async def callback(self, interaction: discord.Interaction[Any]) -> None:
        payload = f"sp:{self.job}:{self.face}:{self.n}"
        await _guarded(interaction, self._press(interaction), payload, self.signature)

    async def _press(self, interaction: discord.Interaction[Any]) -> None:
        me = asker(interaction)
        request = swap_flow.SwapRequest.choice(ANALYSIS_PREFIX + self.job, self.n or None, self.face)
        if await consent.ask(interaction, me, request):  # terms changed since the photo: asked again first
            return
        status = Status(interaction)
        await status.defer()
        await status.show(await swap_flow.perform(me.services, me.user, request, status.open))


class SavePickButton(
    discord.ui.DynamicItem[discord.ui.Button[Any]],
    template=re.compile(rf"fp:{_JOB}:(?P<n>\d+):{SIGNATURE}"),
):
    """Save face ``n`` of analysis ``job`` under the name it was asked with."""

    def __init__(self, job: str, n: int, signature: str, label: str = "…") -> None:
        self.job, self.n, self.signature = job, n, signature
        super().__init__(
            discord.ui.Button(
                label=label, custom_id=f"fp:{job}:{n}:{signature}", style=discord.ButtonStyle.primary
            )
        )

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction[Any], item: discord.ui.Item[Any], match: re.Match[str], /
    ) -> SavePickButton:
        return cls(match["job"], int(match["n"]), match["sig"])

    async def callback(self, interaction: discord.Interaction[Any]) -> None:
        await _guarded(interaction, self._press(interaction), f"fp:{self.job}:{self.n}", self.signature)

    async def _press(self, interaction: discord.Interaction[Any]) -> None:
        me = asker(interaction)
        await say(
            interaction, await faces_flow.pick(me.services, me.user, ANALYSIS_PREFIX + self.job, self.n)
        )


async def _guarded(interaction: discord.Interaction[Any], press: Any, payload: str, signature: str) -> None:
    """A press: the signature for this user, then the asker admitted, then ``press``; any failure is
    answered like a command's."""
    services = services_of(interaction)
    try:
        if not verify(services.config.secret_key, interaction.user.id, payload, signature):
            press.close()
            await enter(interaction)
            await reply(interaction, asker(interaction).t("not_your_button"))
            return
        await enter(interaction)
        await press
    except Exception as exc:
        press.close()
        await on_error(interaction, exc)


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
            signature = sign(secret, user_id, f"sp:{short}:{face}:{n}")
            view.add_item(SwapPickButton(short, face, n, signature, str(n) if n else t("swap_all")))
    else:
        for n in numbers[:MAX_BUTTONS]:
            signature = sign(secret, user_id, f"fp:{short}:{n}")
            view.add_item(SavePickButton(short, n, signature, str(n)))
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
