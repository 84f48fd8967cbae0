"""/settings: the restorer run after a swap, the language, the default face.

Choices come back from buttons written by the client, so each is checked again here: a restorer the
workers do not offer, a language we do not speak or a face of someone else changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from sqlalchemy import select

from bot.services import Services
from db import faces as db_faces
from db import users as db_users
from db.models import SavedFace, User

# The languages the catalogue is written in, each named in itself (a name, not a sentence to translate).
LANGUAGES: dict[str, str] = {"en": "English", "ru": "Русский", "ko": "한국어", "vi": "Tiếng Việt"}
RESTORER_NAMES: dict[str, str] = {"gfpgan": "GFPGAN", "codeformer": "CodeFormer"}


def swap_options(services: Services, user: User) -> dict[str, Any]:
    """The swap job's params this user chose: ``{"restorer": name or None}``. A restorer the workers no
    longer offer (models removed since it was picked) is left out rather than failing the job."""
    restorer = user.restorer if user.restorer in services.config.restorers else None
    return {"restorer": restorer}


def language_of(user: User) -> str:
    return user.language if user.language in LANGUAGES else "en"


@dataclass(frozen=True, slots=True)
class FaceChoice:
    face_id: int
    name: str
    is_default: bool


@dataclass(frozen=True, slots=True)
class SettingsView:
    language: str
    restorer: str | None  # None: off (or no longer offered)
    restorers: tuple[str, ...]  # what can be picked
    faces: list[FaceChoice]

    @property
    def default_face(self) -> str | None:
        return next((face.name for face in self.faces if face.is_default), None)


async def view(services: Services, user: User) -> SettingsView:
    async with services.db.session() as session:
        faces = await db_faces.list_for_user(session, user.id)
        fresh = await db_users.get(session, user.id)
    return SettingsView(
        language=language_of(fresh),
        restorer=swap_options(services, fresh)["restorer"],
        restorers=tuple(services.config.restorers),
        faces=[FaceChoice(face.id, face.name, face.is_default) for face in faces],
    )


class Changed(StrEnum):
    DONE = "done"
    UNAVAILABLE = "settings_unavailable"  # not offered (any more), or not the user's face


async def set_language(services: Services, user: User, language: str) -> Changed:
    if language not in LANGUAGES:
        return Changed.UNAVAILABLE
    async with services.db.transaction() as session:
        await db_users.update_profile(session, user.id, language=language)
    user.language = language  # the caller answers in it straight away
    return Changed.DONE


async def set_restorer(services: Services, user: User, restorer: str | None) -> Changed:
    """``None`` turns restoration off; a name must be one the workers offer."""
    if restorer is not None and restorer not in services.config.restorers:
        return Changed.UNAVAILABLE
    async with services.db.transaction() as session:
        await db_users.set_restorer(session, user.id, restorer)
    user.restorer = restorer
    return Changed.DONE


async def set_default_face(services: Services, user: User, face_id: int) -> str | None:
    """Make the user's face ``face_id`` the default; its name, or None when it is not theirs (or gone)."""
    async with services.db.transaction() as session:
        name = await session.scalar(
            select(SavedFace.name).where(SavedFace.id == face_id, SavedFace.user_id == user.id)
        )
        if name is None:
            return None
        await db_faces.set_default(session, user.id, name)
    return name
