"""Swapping a saved face onto the faces of a photo.

A photo is one swap job whose faces are left to the worker (``choose``): with exactly one face it swaps
it, charged with the job; with several it ends the job as needing a choice (refunded) and sends the
numbered picker, whose choice (``choose``) is the swap job, reusing the faces found. An album of two
photos is one swap job: the first photo's face onto the second's faces.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from bot.flows.base import (
    Answer,
    OpenStatus,
    Photo,
    check_picker,
    nsfw_param,
    short_of_credits,
    submit,
)
from bot.flows.pickers import Picker
from bot.flows.settings import swap_options
from bot.services import Services
from db import analyses
from db import faces as db_faces
from db import jobs as db_jobs
from db.errors import FaceNotFound, InvalidName
from db.models import JobKind, SavedFace, User
from jobs.params import MAX_MIX  # saved faces in one "/swap anna+bob"
from jobs.request import InputRef, JobRequest, SavedFaceRef


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


async def _ready_to_swap(services: Services, user: User, names: Sequence[str]) -> list[SavedFace] | Answer:
    """What every swap of saved faces onto ``photo`` checks after its photo (bot/flows/consent.go), in
    the order a person should hear it: the saved faces named, then the credits. The faces, or the
    answer refusing."""
    faces = await _saved_faces(services, user, names)
    if isinstance(faces, Answer):
        return faces
    short = await short_of_credits(services, user.id, services.config.swap_cost)
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
    mixes them) onto the face in ``photo``, as one swap job: the worker swaps a photo's only face, and
    asks which when it has several (``choose``). ``options``: the swap options when not the user's
    settings (``restorer_choice``)."""
    faces = await _ready_to_swap(services, user, names)
    if isinstance(faces, Answer):
        return faces
    delivery = await open_status()
    request = JobRequest(
        user_id=user.id,
        kind=JobKind.SWAP,
        target=photo.ref,
        source=SavedFaceRef(faces[0].id),
        params={
            "faces": None,
            "choose": True,
            "mix": [face.id for face in faces[1:]] or None,
            **(options if options is not None else swap_options(services, user)),
            **nsfw_param(photo),
        },
        cost=services.config.swap_cost,
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
    """The saved face(s) onto the faces numbered ``faces`` of ``photo``, as one paid swap job: the
    person already said which faces, so no picker comes first (a number the photo does not have fails
    the job with bad_face_index, refunded)."""
    saved = await _ready_to_swap(services, user, names)
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
    swap job (the photos checked by bot/flows/consent.go)."""
    short = await short_of_credits(services, user.id, services.config.swap_cost)
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
    PHOTO = "photo"  # saved faces onto a photo, its faces left to the worker (``swap_photo``)
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
    analysis: str | None = None  # CHOICE: the picker's job, face ``number`` (None: all), saved ``face``
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
    picker_job: str,
    number: int | None,
    face_id: int,
    open_status: OpenStatus,
) -> Answer:
    """A picker button: saved face ``face_id`` onto face ``number`` (None: all faces) of the photo whose
    swap ``picker_job`` asked which. Everything the button names is checked again: it is this user's
    picker, still kept, the number is one of its faces, and the saved face is the user's. The swap is a
    new job, paid now, that reuses the faces the picker's job found."""
    async with services.db.session() as session:
        job = await db_jobs.get_or_none(session, picker_job)
        refused = await check_picker(session, job, user, number, Picker.SWAP)
        if refused is not None:
            return refused
        face = await session.get(SavedFace, face_id)
        if face is None or face.user_id != user.id:
            return Answer("face_not_found")
    assert job is not None and job.inputs is not None
    params = job.params or {}
    short = await short_of_credits(services, user.id, job.cost)
    if short is not None:
        return short
    delivery = await open_status()
    same_face = face_id == job.inputs.get("saved_face")
    request = JobRequest(
        user_id=user.id,
        kind=JobKind.SWAP,
        target=InputRef.from_json(job.inputs["target"]),
        source=SavedFaceRef(face_id),
        params={
            "faces": [number] if number is not None else None,
            "restorer": params.get("restorer"),
            # the faces mixed in go with the photo's own saved face only (a picker may choose another)
            "mix": params.get("mix") if same_face else None,
            **({"channel_nsfw": True} if params.get("channel_nsfw") else {}),
        },
        cost=job.cost,
        delivery=delivery,
        detections=job.id,
    )
    return await submit(services, request, delivery)


async def picker_refusal(services: Services, user: User, picker_job: str) -> Answer | None:
    """Why a swap picker's button cannot be used (not this user's, unfinished, expired), or None."""
    async with services.db.session() as session:
        job = await db_jobs.get_or_none(session, picker_job)
        return await check_picker(session, job, user, None, Picker.SWAP)


async def picker_face(
    services: Services, user: User, picker_job: str, face_id: int
) -> tuple[str, int] | Answer:
    """Another saved face chosen on a swap picker: (its name, the picker's face count), once both the
    picker and the face are checked to be the user's."""
    async with services.db.session() as session:
        job = await db_jobs.get_or_none(session, picker_job)
        refused = await check_picker(session, job, user, None, Picker.SWAP)
        if refused is not None:
            return refused
        face = await session.get(SavedFace, face_id)
        if face is None or face.user_id != user.id:
            return Answer("face_not_found")
        return face.name, await analyses.count(session, picker_job)


async def _source_face(services: Services, user: User, name: str | None) -> SavedFace | Answer:
    async with services.db.read() as session:
        if name is None:
            face = await db_faces.get_default(session, user.id, embeddings=False)
            return face if face is not None else Answer("no_saved_face")
        try:
            return await db_faces.get(session, user.id, name)
        except (FaceNotFound, InvalidName):
            return Answer("face_name_not_found", {"name": name})
