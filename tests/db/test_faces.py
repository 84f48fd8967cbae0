"""Saved faces: name rules, the limit of 20, one default per user, embeddings per model."""

from __future__ import annotations

import dataclasses
import struct

import numpy as np
import pytest
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from db import faces
from db.errors import DuplicateName, EmbeddingMissing, FaceLimitReached, FaceNotFound, InvalidName
from db.models import SavedFace, SavedFaceEmbedding
from db.session import Database
from tests.db.conftest import NewUser

CHIP = b"\xff\xd8\xff\xe0 a small jpeg \xff\xd9"
LANDMARKS = [[38.3, 51.7], [73.5, 51.5], [56.0, 71.7], [41.5, 92.4], [70.7, 92.2]]


def _vector(*values: float) -> bytes:
    return struct.pack(f"<{len(values)}f", *values)


async def _save(db: Database, user_id: int, name: str, **kw: object) -> SavedFace:
    kw.setdefault("embeddings", {"dlib_resnet": _vector(0.1, 0.2, 0.3)})
    async with db.transaction() as session:
        return await faces.save(session, user_id, name, chip=CHIP, landmarks=LANDMARKS, **kw)


async def test_round_trip_and_embeddings_per_model(db: Database, new_user: NewUser) -> None:
    user_id = await new_user()
    vectors = {"w600k_r50": _vector(*range(512)), "dlib_resnet": _vector(*range(128))}
    await _save(db, user_id, "Mom", embeddings=vectors)
    async with db.session() as session:
        face = await faces.get(session, user_id, "mom")
        assert (face.name, face.chip, face.landmarks, face.is_default) == ("mom", CHIP, LANDMARKS, True)
        assert {(e.model, e.dim) for e in face.embeddings} == {("w600k_r50", 512), ("dlib_resnet", 128)}
        assert faces.embedding(face, "w600k_r50") == vectors["w600k_r50"]
        with pytest.raises(EmbeddingMissing):
            faces.embedding(face, "some_other_model")
    async with db.transaction() as session:
        face = await faces.get(session, user_id, "MOM")
        await faces.add_embedding(session, face, "some_other_model", _vector(1.0, 2.0))
    async with db.session() as session:
        face = await faces.get(session, user_id, "mom")
        assert faces.embedding(face, "some_other_model") == _vector(1.0, 2.0)


async def test_names(db: Database, new_user: NewUser) -> None:
    user_id = await new_user()
    other = await new_user()
    await _save(db, user_id, "Alice_2")
    await _save(db, other, "alice_2")  # names are per user
    await _save(db, user_id, "Женя")  # letters of any script
    with pytest.raises(DuplicateName):
        await _save(db, user_id, "ALICE_2")
    for bad in ["", "has space", "a" * 17, "semi;colon", "emoji🙂"]:
        with pytest.raises(InvalidName):
            await _save(db, user_id, bad)
    with pytest.raises(ValueError):
        await _save(db, user_id, "broken", embeddings={"m": b"\x00\x00\x00"})  # not float32


async def test_twenty_faces_then_a_clear_error(db: Database, new_user: NewUser) -> None:
    user_id = await new_user()
    for i in range(faces.MAX_FACES):
        await _save(db, user_id, f"face{i}")
    with pytest.raises(FaceLimitReached) as caught:
        await _save(db, user_id, "one_more")
    assert caught.value.limit == 20 and "20" in str(caught.value)
    async with db.transaction() as session:
        assert await faces.count(session, user_id) == 20
        await faces.delete_face(session, user_id, "face3")
    await _save(db, user_id, "one_more")


async def test_one_default_per_user(db: Database, new_user: NewUser) -> None:
    user_id = await new_user()
    await _save(db, user_id, "first")
    await _save(db, user_id, "second")
    await _save(db, user_id, "third", make_default=True)
    async with db.transaction() as session:
        assert (await faces.get_default(session, user_id)).name == "third"
        await faces.set_default(session, user_id, "second")
    async with db.session() as session:
        listed = await faces.list_for_user(session, user_id)
    assert [(f.name, f.is_default) for f in listed] == [("first", False), ("second", True), ("third", False)]
    # The database itself refuses a second default.
    with pytest.raises(IntegrityError):
        async with db.transaction() as session:
            first = (SavedFace.user_id == user_id) & (SavedFace.name == "first")
            await session.execute(update(SavedFace).where(first).values(is_default=True))


async def test_delete_removes_the_embeddings_too(db: Database, new_user: NewUser) -> None:
    user_id = await new_user()
    face_id = (await _save(db, user_id, "gone")).id
    async with db.transaction() as session:
        await faces.delete_face(session, user_id, "gone")
        with pytest.raises(FaceNotFound):
            await faces.delete_face(session, user_id, "gone")
        assert await faces.get_default(session, user_id) is None
        left = select(SavedFaceEmbedding).where(SavedFaceEmbedding.identity_id == face_id)
        assert list(await session.scalars(left)) == []


async def test_an_engine_identity_comes_back_from_the_database_unchanged(
    db: Database, new_user: NewUser, astronaut: np.ndarray
) -> None:
    """Saving stores exactly ``engine.stored``'s fields; reading them back makes the same identity."""
    from engine.classic.backend import ClassicEngine
    from engine.stored import StoredIdentity, from_stored, to_stored

    engine = ClassicEngine()
    (face,) = engine.detect(astronaut)
    identity = engine.identity(astronaut, face)
    stored = to_stored(identity)
    user_id = await new_user()
    async with db.transaction() as session:
        await faces.save(session, user_id, "astronaut", **dataclasses.asdict(stored))
    async with db.session() as session:
        row = await faces.get(session, user_id, "astronaut")
        read = StoredIdentity(row.chip, row.landmarks, {e.model: e.vector for e in row.embeddings})
    assert read == stored  # bytes, JSON floats and float32 vectors all survive both databases
    back = from_stored(read, engine.embedding_model)
    np.testing.assert_array_equal(back.landmarks, identity.landmarks)
    model = engine.embedding_model
    np.testing.assert_array_equal(back.embeddings[model], identity.embeddings[model])
