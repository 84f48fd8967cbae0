"""The words every flow shares: ``Photo`` (what arrived), ``Answer`` (what to say), ``OpenStatus`` (how a
flow opens the job's status message, only once it is about to submit), the photo check before any work,
the credit check, and ``submit`` (a request becomes a job, or is the same job as before)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import PurePath
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from bot.flows.pickers import Picker, picker_of
from bot.services import Services
from db import analyses, ledger
from db import jobs as db_jobs
from db.errors import InsufficientCredits
from db.jobs import Delivery
from db.models import Job, JobStatus, User
from jobs.client import Ticket
from jobs.request import InputRef, JobRequest, SavedFaceRef

# What a file sent as a document may be called or declared as to count as a picture.
IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".png", ".webp"})
SUBMITTED = "job_submitted"

OpenStatus = Callable[[], Awaitable[Delivery]]
"""Sends the job's first status message and returns where the job reports (its chat and message)."""


@dataclass(frozen=True, slots=True)
class Photo:
    """A picture a person sent, by reference. ``size``: bytes, when the platform says it. ``mime`` and
    ``filename``: for one sent as a file (``as_file``), whose kind we only know from them."""

    ref: InputRef
    size: int | None = None
    as_file: bool = False
    mime: str | None = None
    filename: str | None = None
    # Sent in a Discord channel marked NSFW: the workers' content guard may allow more there
    # (SWAPBOT_DISCORD_NSFW_CHANNELS); it reaches them as the job parameter ``channel_nsfw``.
    channel_nsfw: bool = False

    def to_json(self) -> dict[str, Any]:
        """For what is kept between updates (FSM data, held requests): JSON, in Redis too."""
        data = {
            "ref": self.ref.to_json(),
            "size": self.size,
            "as_file": self.as_file,
            "mime": self.mime,
            "filename": self.filename,
        }
        return {**data, "channel_nsfw": True} if self.channel_nsfw else data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Photo:
        return cls(
            InputRef.from_json(data["ref"]),
            size=data.get("size"),
            as_file=bool(data.get("as_file")),
            mime=data.get("mime"),
            filename=data.get("filename"),
            channel_nsfw=bool(data.get("channel_nsfw")),
        )


@dataclass(frozen=True, slots=True)
class PickerShown:
    """A picker that went out before for the same photo: what its buttons name, so an adapter can offer
    them again (``face``: the saved face a swap picker puts in)."""

    picker: Picker
    job_id: str
    count: int
    face: int | None = None


@dataclass(frozen=True, slots=True)
class Answer:
    """What to tell the person: the catalogue's ``code`` with ``params``. ``ticket``: a job was
    submitted (its status message already tells the rest); ``again``: it was the same request as an
    earlier job, whose result went out again; ``picker``: that earlier job's picker."""

    code: str
    params: Mapping[str, Any] = field(default_factory=dict)
    ticket: Ticket | None = None
    again: bool = False
    picker: PickerShown | None = None

    @property
    def submitted(self) -> bool:
        return self.ticket is not None


def nsfw_param(*photos: Photo) -> dict[str, bool]:
    """``{"channel_nsfw": True}`` for photos from an NSFW channel, else nothing (so every other job,
    and its id, is as it was)."""
    return {"channel_nsfw": True} if any(photo.channel_nsfw for photo in photos) else {}


def check_photo(services: Services, photo: Photo) -> Answer | None:
    """A refusal before any work (nothing downloaded, nothing charged), or None when the photo may go."""
    limit = services.config.max_file_bytes
    if photo.size is not None and photo.size > limit:
        return Answer("file_too_large", {"size": photo.size, "max_bytes": limit})
    if photo.as_file and not is_image_file(photo.mime, photo.filename):
        suffix = PurePath(photo.filename).suffix if photo.filename else ""
        what = photo.mime or suffix
        return Answer("not_an_image", {"what": what} if what else {})
    return None


def is_image_file(mime: str | None, filename: str | None) -> bool:
    if mime is not None and mime.lower().startswith("image/"):
        return True
    return filename is not None and PurePath(filename.lower()).suffix in IMAGE_EXTENSIONS


async def short_of_credits(services: Services, user_id: int, cost: int) -> Answer | None:
    """Refused before any work when the user cannot pay (the charge itself comes with the job)."""
    async with services.db.read() as session:
        balance = await ledger.balance(session, user_id)
    if balance < cost:
        return Answer("insufficient_credits", {"balance": balance, "needed": cost})
    return None


async def submit(services: Services, request: JobRequest, delivery: Delivery) -> Answer:
    """Submit ``request``. The same request again (a photo sent twice, a button pressed twice) is the
    same job: a finished swap or caricature is sent again for free; a photo whose picker went out says
    so (and names the picker, for the adapters that offer its buttons again)."""
    try:
        ticket = await services.jobs.submit(request)
    except InsufficientCredits as exc:
        return Answer("insufficient_credits", {"balance": exc.balance, "needed": exc.needed})
    if ticket.created:
        return Answer(SUBMITTED, ticket=ticket)
    if ticket.status == JobStatus.NEEDS_CHOICE.value:
        async with services.db.session() as session:
            job = await db_jobs.get(session, ticket.job_id)
            count = await analyses.count(session, ticket.job_id)
        picker = picker_of(job.kind, job.params or {})
        face = request.source.face_id if isinstance(request.source, SavedFaceRef) else None
        shown = PickerShown(picker, job.id, count, face) if picker is not None else None
        return Answer("picker_sent_before", {"count": count}, ticket=ticket, again=True, picker=shown)
    if ticket.status != JobStatus.SUCCEEDED.value:
        return Answer("job_already_running", ticket=ticket, again=True)
    if await services.jobs.resend(ticket.job_id, delivery):
        return Answer("job_sent_again", ticket=ticket, again=True)
    return Answer("job_already_done", ticket=ticket, again=True)


async def check_picker(
    session: AsyncSession, job: Job | None, user: User, number: int | None, picker: Picker
) -> Answer | None:
    """The refusal for a ``picker`` button naming ``job`` and face ``number``, or None when it stands:
    the job is this user's and asks with this picker, its faces are still kept, and the number is one of
    them. A foreign, unknown or other kind of job look alike."""
    if job is None or job.user_id != user.id or job.kind != picker.value:
        return Answer("not_your_analysis")
    if job.purged_at is not None or not job.inputs:
        return Answer("analysis_expired")
    if picker_of(job.kind, job.params or {}) is not picker:
        return Answer("not_your_analysis")
    if job.status != JobStatus.NEEDS_CHOICE.value:
        return Answer("analysis_not_finished", {"hint": job.status})
    count = await analyses.count(session, job.id)
    if count == 0:
        return Answer("analysis_expired")
    if number is not None and not 1 <= number <= count:
        return Answer("bad_face_index", {"number": number, "count": count})
    return None
