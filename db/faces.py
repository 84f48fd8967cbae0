"""Saved faces: name, aligned chip (JPEG), landmarks and one embedding per engine model.

Names are case-insensitive (stored case-folded): ``/use Bob`` and ``/use bob`` mean the same face.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import datetime

from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import raiseload

from db.base import utcnow
from db.errors import (
    DuplicateName,
    EmbeddingMissing,
    FaceLimitReached,
    FaceNotFound,
    InvalidName,
    UserNotFound,
)
from db.models import SavedFace, SavedFaceEmbedding, User

MAX_FACES = 20
MAX_NAME = 16
_NAME = re.compile(rf"\w{{1,{MAX_NAME}}}")  # \w: letters of any script, digits and _


def normalize_name(name: str) -> str:
    folded = name.strip().casefold()
    if not _NAME.fullmatch(folded):
        raise InvalidName(name, MAX_NAME)
    return folded


def float32_vectors(embeddings: Mapping[str, bytes], what: str) -> list[tuple[str, int, bytes]]:
    """(model, dim, vector) per embedding of ``what``, sorted by model; ValueError unless each is float32."""
    if not embeddings:
        raise ValueError(f"{what} has no embedding")
    checked = []
    for model, vector in sorted(embeddings.items()):
        if not vector or len(vector) % 4:
            raise ValueError(f"{what}: the {model!r} embedding is not float32 bytes ({len(vector)} bytes)")
        checked.append((model, len(vector) // 4, bytes(vector)))
    return checked


def _embedding_rows(embeddings: Mapping[str, bytes]) -> list[SavedFaceEmbedding]:
    return [
        SavedFaceEmbedding(model=model, dim=dim, vector=vector)
        for model, dim, vector in float32_vectors(embeddings, "a saved face")
    ]


async def save(
    session: AsyncSession,
    user_id: int,
    name: str,
    *,
    chip: bytes,
    landmarks: Sequence[Sequence[float]],
    embeddings: Mapping[str, bytes],
    make_default: bool = False,
    now: datetime | None = None,
) -> SavedFace:
    """Save a face. The user's first face becomes the default; ``make_default`` moves the default here.

    ``chip`` is the aligned face as JPEG bytes; ``embeddings`` maps model name to float32 bytes.
    Raises ``InvalidName``, ``DuplicateName``, ``FaceLimitReached`` (the 21st) or ``UserNotFound``.
    """
    name = normalize_name(name)
    rows = _embedding_rows(embeddings)
    await _lock_user(session, user_id)  # serialises saves of one user, so the count below holds
    names = list(await session.scalars(select(SavedFace.name).where(SavedFace.user_id == user_id)))
    if name in names:
        raise DuplicateName(name)
    if len(names) >= MAX_FACES:
        raise FaceLimitReached(MAX_FACES)
    is_default = make_default or not names
    face = SavedFace(
        user_id=user_id,
        name=name,
        chip=bytes(chip),
        landmarks=[[float(x), float(y)] for x, y in landmarks],
        is_default=is_default,
        created_at=now or utcnow(),
        embeddings=rows,
    )
    try:
        async with session.begin_nested():
            if is_default:
                await _clear_default(session, user_id)
            session.add(face)
            await session.flush()
    except IntegrityError as exc:  # only reachable if a writer skipped the user lock
        raise DuplicateName(name) from exc
    return face


async def get(session: AsyncSession, user_id: int, name: str) -> SavedFace:
    face = await session.scalar(
        select(SavedFace)
        .where(SavedFace.user_id == user_id, SavedFace.name == normalize_name(name))
        .execution_options(populate_existing=True)
    )
    if face is None:
        raise FaceNotFound(name)
    return face


async def get_default(session: AsyncSession, user_id: int, *, embeddings: bool = True) -> SavedFace | None:
    """The user's default face. ``embeddings=False``: without its embeddings (one SELECT fewer; the
    bot only names the face in a job, the worker loads it whole), which then raise if touched."""
    statement = select(SavedFace).where(SavedFace.user_id == user_id, SavedFace.is_default)
    if not embeddings:
        statement = statement.options(raiseload(SavedFace.embeddings))
    return await session.scalar(statement.execution_options(populate_existing=True))


async def list_for_user(session: AsyncSession, user_id: int) -> list[SavedFace]:
    rows = await session.scalars(
        select(SavedFace)
        .where(SavedFace.user_id == user_id)
        .order_by(SavedFace.created_at, SavedFace.id)
        .execution_options(populate_existing=True)
    )
    return list(rows)


async def count(session: AsyncSession, user_id: int) -> int:
    return (
        await session.scalar(select(func.count()).select_from(SavedFace).where(SavedFace.user_id == user_id))
        or 0
    )


async def set_default(session: AsyncSession, user_id: int, name: str) -> SavedFace:
    face = await get(session, user_id, name)
    async with session.begin_nested():
        await _clear_default(session, user_id)
        await session.execute(update(SavedFace).where(SavedFace.id == face.id).values(is_default=True))
    await session.refresh(face, ["is_default"])
    return face


async def delete_face(session: AsyncSession, user_id: int, name: str) -> None:
    """Delete one saved face. Deleting the default leaves the user without one until they pick another."""
    deleted = await session.scalars(
        delete(SavedFace)
        .where(SavedFace.user_id == user_id, SavedFace.name == normalize_name(name))
        .returning(SavedFace.id)
    )
    if not deleted.all():
        raise FaceNotFound(name)


async def add_embedding(session: AsyncSession, face: SavedFace, model: str, vector: bytes) -> None:
    """Store (or replace) the embedding of ``face`` for ``model``, e.g. re-embedded from its chip."""
    (row,) = _embedding_rows({model: vector})
    existing = next((e for e in face.embeddings if e.model == model), None)
    if existing is None:
        face.embeddings.append(row)
    else:
        existing.dim, existing.vector = row.dim, row.vector
    await session.flush()


def embedding(face: SavedFace, model: str) -> bytes:
    """The float32 bytes for ``model``; ``EmbeddingMissing`` if the face was saved with another engine."""
    for row in face.embeddings:
        if row.model == model:
            return row.vector
    raise EmbeddingMissing(face.name, model)


async def _lock_user(session: AsyncSession, user_id: int) -> None:
    found = await session.scalar(select(User.id).where(User.id == user_id).with_for_update())
    if found is None:
        raise UserNotFound(user_id)


async def _clear_default(session: AsyncSession, user_id: int) -> None:
    await session.execute(
        update(SavedFace)
        .where(SavedFace.user_id == user_id, SavedFace.is_default)
        .values(is_default=False)
        .execution_options(synchronize_session="fetch")
    )
