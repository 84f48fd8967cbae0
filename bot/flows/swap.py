"""Swapping a saved face onto the faces of a photo.

A photo first goes to a free analysis job whose params say it is for a swap (jobs.params): with
exactly one face the worker submits the swap itself, charged then (jobs.follow); with several it sends
the numbered picker, and the choice (``choose``) becomes the swap job. An album of two photos is one
swap job: the first photo's face onto the second's faces.

Also the neutral types the photo flows share: ``Photo`` (what arrived), ``Answer`` (what to say) and
``OpenStatus`` (how a flow opens the job's status message, only once it is about to submit).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import PurePath
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from bot.flows.settings import swap_options
from bot.services import Services
from db import analyses, ledger
from db import faces as db_faces
from db import jobs as db_jobs
from db.errors import FaceNotFound, InsufficientCredits, InvalidName
from db.jobs import Delivery
from db.models import Job, JobKind, JobStatus, SavedFace, User
from jobs.client import Ticket
from jobs.follow import one_face_swap
from jobs.params import MAX_MIX  # saved faces in one "/swap anna+bob"
from jobs.request import InputRef, JobRequest, SavedFaceRef

# What a file sent as a document may be called or declared as to count as a picture.
IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".png", ".webp"})

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


def nsfw_param(*photos: Photo) -> dict[str, bool]:
    """``{"channel_nsfw": True}`` for photos from an NSFW channel, else nothing (so every other job,
    and its id, is as it was)."""
    return {"channel_nsfw": True} if any(photo.channel_nsfw for photo in photos) else {}


@dataclass(frozen=True, slots=True)
class Answer:
    """What to tell the person: the catalogue's ``code`` with ``params``. ``ticket``: a job was
    submitted (its status message already tells the rest); ``again``: it was the same request as an
    earlier job, whose result went out again."""

    code: str
    params: Mapping[str, Any] = field(default_factory=dict)
    ticket: Ticket | None = None
    again: bool = False

    @property
    def submitted(self) -> bool:
        return self.ticket is not None


SUBMITTED = "job_submitted"


def check_photo(services: Services, photo: Photo) -> Answer | None:
    """A refusal before any work (nothing downloaded, nothing charged), or None when the photo may go."""
    limit = services.config.max_file_bytes
    if photo.size is not None and photo.size > limit:
        return Answer("file_too_large", {"size": photo.size, "max_bytes": limit})
    if photo.as_file and not is_image_file(photo.mime, photo.filename):
        return Answer("not_an_image")
    return None


def is_image_file(mime: str | None, filename: str | None) -> bool:
    if mime is not None and mime.lower().startswith("image/"):
        return True
    return filename is not None and PurePath(filename.lower()).suffix in IMAGE_EXTENSIONS


def parse_face_names(text: str | None) -> list[str]:
    """``anna+bob`` -> ["anna", "bob"]; empty when nothing is named."""
    if not text:
        return []
    return [name.strip() for name in text.replace(",", "+").split("+") if name.strip()]


def parse_face_numbers(text: str | None) -> list[int] | None:
    """``1,3`` -> [1, 3]; ``all`` or nothing -> None (every face). Raises ValueError for anything else."""
    if text is None or text.strip().casefold() in ("", "all"):
        return None
    numbers = [part.strip() for part in text.replace(" ", ",").split(",") if part.strip()]
    if not numbers or not all(n.isdecimal() and 0 < int(n) <= MAX_FACE_NUMBER for n in numbers):
        raise ValueError(text)
    return sorted({int(n) for n in numbers})


MAX_FACE_NUMBER = 99  # no photo has more faces than a picker can number


def restorer_choice(services: Services, user: User, enhance: bool | None) -> Mapping[str, Any] | Answer:
    """The swap options with an explicit "restore the faces" switch: None keeps the user's setting,
    False turns restoration off, True uses their restorer or else the first the workers offer."""
    options = swap_options(services, user)
    if enhance is None:
        return options
    if not enhance:
        return {**options, "restorer": None}
    if options["restorer"] is not None:
        return options
    if not services.config.restorers:
        return Answer("enhance_unavailable")
    return {**options, "restorer": services.config.restorers[0]}


async def _saved_faces(services: Services, user: User, names: Sequence[str]) -> list[SavedFace] | Answer:
    """The default saved face, or the ones named (at most ``MAX_MIX``, each once)."""
    if len(names) > MAX_MIX or len({name.casefold() for name in names}) != len(names):
        return Answer("mix_too_many", {"max": MAX_MIX})
    faces = []
    for name in names or [None]:
        face = await _source_face(services, user, name)
        if isinstance(face, Answer):
            return face
        faces.append(face)
    return faces


async def _ready_to_swap(
    services: Services, user: User, photo: Photo, names: Sequence[str]
) -> list[SavedFace] | Answer:
    """What every swap of saved faces onto ``photo`` checks first, in the order a person should hear
    it: the photo, the saved faces named, then the credits. The faces, or the answer refusing."""
    refused = check_photo(services, photo)
    if refused is not None:
        return refused
    faces = await _saved_faces(services, user, names)
    if isinstance(faces, Answer):
        return faces
    short = await _short_of_credits(services, user, services.config.swap_cost)
    return short if short is not None else faces


async def swap_photo(
    services: Services,
    user: User,
    photo: Photo,
    open_status: OpenStatus,
    *,
    names: Sequence[str] = (),
    options: Mapping[str, Any] | None = None,
) -> Answer:
    """The default saved face (or the one named, or up to ``MAX_MIX`` named ones averaged: the worker
    mixes them) onto the face in ``photo``. ``options``: the swap options when not the user's
    settings (``restorer_choice``)."""
    faces = await _ready_to_swap(services, user, photo, names)
    if isinstance(faces, Answer):
        return faces
    delivery = await open_status()
    request = JobRequest(
        user_id=user.id,
        kind=JobKind.ANALYZE,
        target=photo.ref,
        params={
            "purpose": "swap",
            "face": faces[0].id,
            "mix": [face.id for face in faces[1:]],
            **(options if options is not None else swap_options(services, user)),
            "cost": services.config.swap_cost,
            **nsfw_param(photo),
        },
        cost=0,
        delivery=delivery,
    )
    return await submit(services, request, delivery)


async def swap_numbered(
    services: Services,
    user: User,
    photo: Photo,
    faces: list[int],
    open_status: OpenStatus,
    *,
    names: Sequence[str] = (),
    options: Mapping[str, Any] | None = None,
) -> Answer:
    """The saved face(s) onto the faces numbered ``faces`` of ``photo``, as one paid swap job at once:
    the person already said which faces, so no analysis or picker comes first (a number the photo
    does not have fails the job with bad_face_index, refunded)."""
    saved = await _ready_to_swap(services, user, photo, names)
    if isinstance(saved, Answer):
        return saved
    delivery = await open_status()
    request = JobRequest(
        user_id=user.id,
        kind=JobKind.SWAP,
        target=photo.ref,
        source=SavedFaceRef(saved[0].id),
        params={
            "faces": faces,
            "mix": [face.id for face in saved[1:]] or None,
            **(options if options is not None else swap_options(services, user)),
            **nsfw_param(photo),
        },
        cost=services.config.swap_cost,
        delivery=delivery,
    )
    return await submit(services, request, delivery)


async def swap_album(
    services: Services,
    user: User,
    source: Photo,
    target: Photo,
    open_status: OpenStatus,
    *,
    faces: list[int] | None = None,
    options: Mapping[str, Any] | None = None,
) -> Answer:
    """The first photo's face onto every face of the second (or the faces numbered ``faces``), as one
    swap job."""
    for photo in (source, target):
        refused = check_photo(services, photo)
        if refused is not None:
            return refused
    short = await _short_of_credits(services, user, services.config.swap_cost)
    if short is not None:
        return short
    delivery = await open_status()
    request = JobRequest(
        user_id=user.id,
        kind=JobKind.SWAP,
        target=target.ref,
        source=source.ref,
        params={
            "faces": faces,
            **(options if options is not None else swap_options(services, user)),
            **nsfw_param(source, target),
        },
        cost=services.config.swap_cost,
        delivery=delivery,
    )
    return await submit(services, request, delivery)


class How(StrEnum):
    PHOTO = "photo"  # saved faces onto a photo: analysed first (``swap_photo``)
    NUMBERED = "numbered"  # saved faces onto the faces numbered (``swap_numbered``)
    ALBUM = "album"  # the first photo's face onto the second's (``swap_album``)
    CHOICE = "choice"  # a picker's button (``choose``)


@dataclass(frozen=True, slots=True)
class SwapRequest:
    """A swap as its handler understood what the person asked, before anything is submitted: kept
    while they are asked for consent (bot/flows/consent.py), then ``perform``ed the same way the
    handler performs it when no question is needed."""

    how: How
    photos: tuple[Photo, ...] = ()
    names: tuple[str, ...] = ()
    faces: tuple[int, ...] | None = None
    options: Mapping[str, Any] | None = None
    analysis: str | None = None  # CHOICE: the analysis, face ``number`` (None: all), saved ``face``
    number: int | None = None
    face: int | None = None

    @classmethod
    def photo(
        cls, photo: Photo, *, names: Sequence[str] = (), options: Mapping[str, Any] | None = None
    ) -> SwapRequest:
        return cls(How.PHOTO, (photo,), tuple(names), options=options)

    @classmethod
    def numbered(
        cls,
        photo: Photo,
        faces: Sequence[int],
        *,
        names: Sequence[str] = (),
        options: Mapping[str, Any] | None = None,
    ) -> SwapRequest:
        return cls(How.NUMBERED, (photo,), tuple(names), tuple(faces), options)

    @classmethod
    def album(
        cls,
        source: Photo,
        target: Photo,
        *,
        faces: Sequence[int] | None = None,
        options: Mapping[str, Any] | None = None,
    ) -> SwapRequest:
        return cls(
            How.ALBUM, (source, target), faces=None if faces is None else tuple(faces), options=options
        )

    @classmethod
    def choice(cls, analysis_id: str, number: int | None, face_id: int) -> SwapRequest:
        return cls(How.CHOICE, analysis=analysis_id, number=number, face=face_id)

    def to_json(self) -> dict[str, Any]:
        return {
            "how": self.how.value,
            "photos": [photo.to_json() for photo in self.photos],
            "names": list(self.names),
            "faces": None if self.faces is None else list(self.faces),
            "options": None if self.options is None else dict(self.options),
            "analysis": self.analysis,
            "number": self.number,
            "face": self.face,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> SwapRequest:
        faces, options = data.get("faces"), data.get("options")
        return cls(
            How(data["how"]),
            tuple(Photo.from_json(photo) for photo in data.get("photos") or ()),
            tuple(str(name) for name in data.get("names") or ()),
            None if faces is None else tuple(int(n) for n in faces),
            None if options is None else dict(options),
            data.get("analysis"),
            data.get("number"),
            data.get("face"),
        )


async def perform(services: Services, user: User, request: SwapRequest, open_status: OpenStatus) -> Answer:
    """The swap ``request`` names, through the flow its handler uses."""
    names, options = request.names, request.options
    if request.how is How.PHOTO:
        (photo,) = request.photos
        return await swap_photo(services, user, photo, open_status, names=names, options=options)
    if request.how is How.NUMBERED:
        (photo,) = request.photos
        faces = list(request.faces or ())
        return await swap_numbered(services, user, photo, faces, open_status, names=names, options=options)
    if request.how is How.ALBUM:
        source, target = request.photos
        faces_or_all = None if request.faces is None else list(request.faces)
        return await swap_album(
            services, user, source, target, open_status, faces=faces_or_all, options=options
        )
    assert request.analysis is not None and request.face is not None
    return await choose(services, user, request.analysis, request.number, request.face, open_status)


async def choose(
    services: Services,
    user: User,
    analysis_id: str,
    number: int | None,
    face_id: int,
    open_status: OpenStatus,
) -> Answer:
    """A picker button: saved face ``face_id`` onto face ``number`` (None: all faces) of the analysed
    photo. Everything the button names is checked again: it is this user's swap picker, finished and
    still kept, the number is one of its faces, and the saved face is the user's."""
    async with services.db.session() as session:
        job = await db_jobs.get_or_none(session, analysis_id)
        refused = await check_picker(session, job, user, number, purpose="swap")
        if refused is not None:
            return refused
        face = await session.get(SavedFace, face_id)
        if face is None or face.user_id != user.id:
            return Answer("face_not_found")
    assert job is not None
    delivery = await open_status()
    faces = [number] if number is not None else None
    request = one_face_swap(job, faces=faces, face_id=face_id, delivery=delivery)
    return await submit(services, request, delivery)


async def picker_refusal(services: Services, user: User, analysis_id: str) -> Answer | None:
    """Why a swap picker's button cannot be used (not this user's, unfinished, expired), or None."""
    async with services.db.session() as session:
        job = await db_jobs.get_or_none(session, analysis_id)
        return await check_picker(session, job, user, None, purpose="swap")


async def picker_face(
    services: Services, user: User, analysis_id: str, face_id: int
) -> tuple[str, int] | Answer:
    """Another saved face chosen on a swap picker: (its name, the picker's face count), once both the
    picker and the face are checked to be the user's."""
    async with services.db.session() as session:
        job = await db_jobs.get_or_none(session, analysis_id)
        refused = await check_picker(session, job, user, None, purpose="swap")
        if refused is not None:
            return refused
        face = await session.get(SavedFace, face_id)
        if face is None or face.user_id != user.id:
            return Answer("face_not_found")
        return face.name, await analyses.count(session, analysis_id)


async def check_picker(
    session: AsyncSession, job: Job | None, user: User, number: int | None, *, purpose: str
) -> Answer | None:
    """The refusal for a picker button naming ``job`` and face ``number``, or None when it stands."""
    if job is None or job.user_id != user.id or job.kind != JobKind.ANALYZE.value:
        return Answer("not_your_analysis")
    if (job.params or {}).get("purpose") != purpose:
        return Answer("not_your_analysis")
    if job.status != JobStatus.SUCCEEDED.value:
        return Answer("analysis_not_finished", {"hint": job.status})
    if job.purged_at is not None or not job.inputs:
        return Answer("analysis_expired")
    count = await analyses.count(session, job.id)
    if count == 0:
        return Answer("analysis_expired")
    if number is not None and not 1 <= number <= count:
        return Answer("bad_face_index", {"number": number, "count": count})
    return None


async def _source_face(services: Services, user: User, name: str | None) -> SavedFace | Answer:
    async with services.db.session() as session:
        if name is None:
            face = await db_faces.get_default(session, user.id)
            return face if face is not None else Answer("no_saved_face")
        try:
            return await db_faces.get(session, user.id, name)
        except (FaceNotFound, InvalidName):
            return Answer("face_name_not_found", {"name": name})


async def _short_of_credits(services: Services, user: User, cost: int) -> Answer | None:
    """Refused before any work when the user cannot pay (the charge itself comes with the job)."""
    async with services.db.session() as session:
        balance = await ledger.balance(session, user.id)
    if balance < cost:
        return Answer("insufficient_credits", {"balance": balance, "needed": cost})
    return None


async def submit(services: Services, request: JobRequest, delivery: Delivery) -> Answer:
    """Submit ``request``. The same request again (a photo sent twice, a button pressed twice) is the
    same job: a finished swap or caricature is sent again for free; a finished one-face analysis asks
    for its swap (sent again if it was made, made now if it was not, e.g. for want of credits then)."""
    try:
        ticket = await services.jobs.submit(request)
    except InsufficientCredits as exc:
        return Answer("insufficient_credits", {"balance": exc.balance, "needed": exc.needed})
    if ticket.created:
        return Answer(SUBMITTED, ticket=ticket)
    if ticket.status != JobStatus.SUCCEEDED.value:
        return Answer("job_already_running", ticket=ticket, again=True)
    if JobKind(request.kind) == JobKind.ANALYZE:
        async with services.db.session() as session:
            job = await db_jobs.get(session, ticket.job_id)
            count = await analyses.count(session, ticket.job_id)
        if count != 1:
            return Answer("picker_sent_before", {"count": count}, ticket=ticket, again=True)
        return await submit(services, one_face_swap(job, faces=[1], delivery=delivery), delivery)
    if await services.jobs.resend(ticket.job_id, delivery):
        return Answer("job_sent_again", ticket=ticket, again=True)
    return Answer("job_already_done", ticket=ticket, again=True)
