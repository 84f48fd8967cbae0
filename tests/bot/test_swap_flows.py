"""The swap, faces and caricature flows on their own (no dispatcher): the real classic engine and real
photos through the in-process runner on SQLite, deliveries to the fake Bot API. What the Telegram tests
cannot see from the chat: refusals open no status message, a photo is one job paid at its submit (and
refused when the credits are gone by then), the same photo twice is one job whose result goes out
again, and every picker refusal."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import replace

import numpy as np
import pytest

from bot.flows import caricature as caricature_flow
from bot.flows import consent as consent_flow
from bot.flows import faces as faces_flow
from bot.flows import swap as flow
from bot.flows.base import PickerShown, check_photo
from bot.flows.pickers import Picker
from bot.services import BotConfig
from db import faces as db_faces
from db import jobs as db_jobs
from db import ledger
from db.jobs import Delivery
from db.models import JobKind, JobStatus, Reason, User
from db.session import Database
from engine.classic.backend import ClassicEngine
from jobs.params import normalize
from jobs.request import InputRef
from tests.conftest import encode
from tests.db.conftest import make_user, migrated, sqlite_url
from tests.fakes.telegram_server import FakeTelegram
from tests.telegram.conftest import SECRET, TelegramHarness, close_tg, open_tg


@pytest.fixture(scope="module")
def classic() -> ClassicEngine:
    return ClassicEngine()


@pytest.fixture(scope="module")
async def db(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Database]:
    async with migrated(sqlite_url(tmp_path_factory.mktemp("swapflows"))) as database:
        yield database


@pytest.fixture
def telegram() -> Iterator[FakeTelegram]:
    with FakeTelegram() as fake:
        yield fake


@pytest.fixture
async def kit(db: Database, telegram: FakeTelegram, classic: ClassicEngine) -> AsyncIterator[TelegramHarness]:
    harness = await open_tg(db, telegram, classic, config=BotConfig(secret_key=SECRET))
    try:
        yield harness
    finally:
        await close_tg(harness)


class Opener:
    """An ``OpenStatus`` that counts its calls: results and notices go to ``chat`` as new messages."""

    def __init__(self, chat: int) -> None:
        self.chat = chat
        self.calls = 0

    async def __call__(self) -> Delivery:
        self.calls += 1
        return Delivery("telegram", str(self.chat))


async def person(kit: TelegramHarness, balance: int) -> User:
    user_id = await make_user(kit.db, balance)
    async with kit.db.session() as session:
        user = await session.get(User, user_id)
    assert user is not None
    return user


def photo(kit: TelegramHarness, image: np.ndarray) -> flow.Photo:
    data = encode(image, ".png")
    file_id, unique = kit.telegram.add_file(data)
    return flow.Photo(InputRef.telegram(file_id, unique), size=len(data))


def bigger(image: np.ndarray) -> np.ndarray:
    import cv2

    return cv2.resize(image, None, fx=4, fy=4, interpolation=cv2.INTER_CUBIC)


async def balance(kit: TelegramHarness, user: User) -> int:
    async with kit.db.session() as session:
        return await ledger.balance(session, user.id)


async def saved(kit: TelegramHarness, user: User, image: np.ndarray, name: str) -> None:
    answer = await faces_flow.start_save(kit.services, user, photo(kit, image), name, Opener(user.id))
    assert answer.submitted
    await kit.idle()
    async with kit.db.session() as session:
        assert name in [face.name for face in await db_faces.list_for_user(session, user.id)]


def test_photos_are_checked_before_any_work() -> None:
    services = type("S", (), {"config": BotConfig(secret_key=SECRET)})()
    ref = InputRef.telegram("f", "u")
    assert check_photo(services, flow.Photo(ref, size=25_000_000)) == flow.Answer(  # type: ignore[arg-type]
        "file_too_large", {"size": 25_000_000, "max_bytes": 20_000_000}
    )
    text = flow.Photo(ref, size=10, as_file=True, mime="text/plain", filename="notes.txt")
    assert check_photo(services, text).code == "not_an_image"  # type: ignore[arg-type, union-attr]
    named = flow.Photo(ref, size=10, as_file=True, mime="application/octet-stream", filename="me.JPG")
    assert check_photo(services, named) is None  # type: ignore[arg-type]
    assert check_photo(services, flow.Photo(ref, size=None)) is None  # type: ignore[arg-type]
    assert flow.parse_face_names(" anna + bob ") == ["anna", "bob"] and flow.parse_face_names(None) == []


def test_job_params_by_kind() -> None:
    assert normalize(JobKind.ANALYZE, {}) == {}
    assert normalize(JobKind.ANALYZE, {"purpose": "save", "name": " Anna "}) == {
        "purpose": "save",
        "name": "anna",
    }
    for bad in (
        {"purpose": "dance"},
        {"purpose": "swap", "face": 4},  # a photo to swap is a swap job now, not an analysis
        {"purpose": "save", "name": "two words"},
        {"purpose": "save", "name": "anna", "face": 1},
        {"name": "anna"},
    ):
        with pytest.raises(ValueError):
            normalize(JobKind.ANALYZE, bad)
    # A photo's swap with its faces left to the worker ("choose"); false is the same as not saying it,
    # so every other swap (and its job id) is as it was.
    assert normalize(JobKind.SWAP, {"choose": True}, saved_face=True) == {
        "faces": None,
        "restorer": None,
        "choose": True,
    }
    assert normalize(JobKind.SWAP, {"choose": False}, saved_face=True) == {"faces": None, "restorer": None}
    for bad in ({"choose": True, "faces": [1]}, {"choose": "yes"}, {"mix": [2, 3, 4]}, {"mix": [2, 2]}):
        with pytest.raises(ValueError):
            normalize(JobKind.SWAP, bad, saved_face=True)
    assert normalize(JobKind.SWAP, {"mix": [3, 2]}, saved_face=True)["mix"] == [3, 2]
    with pytest.raises(ValueError, match="must be a saved face"):
        normalize(JobKind.SWAP, {"mix": [2]})


async def test_refusals_open_no_status_and_cost_nothing(kit: TelegramHarness, astronaut: np.ndarray) -> None:
    user = await person(kit, 0)
    opener = Opener(user.id)
    assert (await flow.swap_photo(kit.services, user, photo(kit, astronaut), opener)).code == "no_saved_face"
    await saved(kit, user, astronaut, "eileen")
    answer = await flow.swap_photo(kit.services, user, photo(kit, astronaut), opener)
    assert answer == flow.Answer("insufficient_credits", {"balance": 0, "needed": 1})
    for names in (["a", "b", "c", "d"], ["eileen", "Eileen"]):
        answer = await flow.swap_photo(kit.services, user, photo(kit, astronaut), opener, names=names)
        assert answer == flow.Answer("mix_too_many", {"max": 3})
    answer = await flow.swap_photo(kit.services, user, photo(kit, astronaut), opener, names=["zed"])
    assert answer == flow.Answer("face_name_not_found", {"name": "zed"})
    answer = await caricature_flow.caricature(
        kit.services, user, photo(kit, astronaut), "openai", 1.0, opener
    )
    assert answer.code == "stylizer_unavailable"  # not among the configured styles
    answer = await caricature_flow.caricature(kit.services, user, photo(kit, astronaut), "warp", 2.5, opener)
    assert answer.code == "bad_strength"
    assert opener.calls == 0


async def test_one_face_swaps_once_and_the_same_photo_again_resends_it(
    kit: TelegramHarness, astronaut: np.ndarray, hanks: np.ndarray
) -> None:
    user = await person(kit, 2)
    await saved(kit, user, astronaut, "eileen")
    target = photo(kit, bigger(hanks))
    first = await flow.swap_photo(kit.services, user, target, Opener(user.id))
    assert first.submitted and not first.again
    await kit.idle()
    assert await balance(kit, user) == 1
    results = kit.telegram.sent_to(user.id, "photo")
    assert len(results) == 1 and results[0].caption == "Credits left: 1."

    again = await flow.swap_photo(kit.services, user, target, Opener(user.id))
    assert again.code == "job_sent_again"
    await kit.idle()
    assert await balance(kit, user) == 1  # not charged again
    resent = kit.telegram.sent_to(user.id, "photo")
    assert len(resent) == 2 and resent[1].file_id == results[0].file_id


async def test_a_photo_is_paid_when_it_is_submitted_and_refused_when_the_credits_are_gone(
    kit: TelegramHarness, astronaut: np.ndarray, hanks: np.ndarray
) -> None:
    user = await person(kit, 1)
    await saved(kit, user, astronaut, "eileen")
    # Both pass the check before work (1 credit each); the first one's job takes the only credit, so
    # the second is refused at its submit: no job, nothing charged.
    first, second = photo(kit, bigger(hanks)), photo(kit, astronaut)
    one = await flow.swap_photo(kit.services, user, first, Opener(user.id))
    two = await flow.swap_photo(kit.services, user, second, Opener(user.id))
    assert one.submitted and two == flow.Answer("insufficient_credits", {"balance": 0, "needed": 1})
    await kit.idle()
    assert await balance(kit, user) == 0
    assert len(kit.telegram.sent_to(user.id, "photo")) == 1
    async with kit.db.session() as session:
        swaps = [job for job in await db_jobs.for_user(session, user.id) if job.kind == JobKind.SWAP.value]
    assert [job.inputs["target"]["identity"] for job in swaps if job.inputs] == [first.ref.identity]

    # With a credit again, that photo gets its swap now.
    async with kit.db.transaction() as session:
        await ledger.post(session, user_id=user.id, delta=1, reason=Reason.ADMIN, key=f"test:more:{user.id}")
    again = await flow.swap_photo(kit.services, user, second, Opener(user.id))
    assert again.submitted and again.ticket is not None and again.ticket.job_id.startswith("swap:")
    await kit.idle()
    assert await balance(kit, user) == 0
    assert len(kit.telegram.sent_to(user.id, "photo")) == 2


async def test_every_picker_press_is_checked(
    kit: TelegramHarness, astronaut: np.ndarray, group_photo: np.ndarray
) -> None:
    alice, mallory = await person(kit, 3), await person(kit, 3)
    await saved(kit, alice, astronaut, "eileen")
    await saved(kit, mallory, astronaut, "mine")
    # sent in a Discord channel marked NSFW: the flag follows the photo into the swap a choice makes
    same_group = replace(photo(kit, group_photo), channel_nsfw=True)
    await flow.swap_photo(kit.services, alice, same_group, Opener(alice.id))
    await kit.idle()
    async with kit.db.session() as session:
        jobs = await db_jobs.for_user(session, alice.id)
        (analysis,) = [j for j in jobs if j.kind == JobKind.SWAP.value]
        (save_analysis,) = [j for j in jobs if (j.params or {}).get("purpose") == "save"]
        (alice_face,) = await db_faces.list_for_user(session, alice.id)
        (mallory_face,) = await db_faces.list_for_user(session, mallory.id)
    # Six faces and none chosen: the swap job asks which, its credit given back.
    assert analysis.status == JobStatus.NEEDS_CHOICE.value
    opener = Opener(alice.id)
    s = kit.services
    assert (await flow.choose(s, alice, analysis.id, 7, alice_face.id, opener)) == flow.Answer(
        "bad_face_index", {"number": 7, "count": 6}
    )
    assert (await flow.choose(s, alice, analysis.id, 1, mallory_face.id, opener)).code == "face_not_found"
    assert (
        await flow.choose(s, mallory, analysis.id, 1, mallory_face.id, opener)
    ).code == "not_your_analysis"
    assert (
        await flow.choose(s, alice, save_analysis.id, 1, alice_face.id, opener)
    ).code == "not_your_analysis"
    assert (await flow.choose(s, alice, "swap:nope", 1, alice_face.id, opener)).code == "not_your_analysis"
    assert (await faces_flow.pick(s, alice, analysis.id, 1)).code == "not_your_analysis"  # a swap picker
    assert opener.calls == 0
    assert await balance(kit, alice) == 3

    again = await flow.swap_photo(s, alice, same_group, Opener(alice.id))
    shown = PickerShown(Picker.SWAP, analysis.id, 6, alice_face.id)
    assert again == flow.Answer(
        "picker_sent_before", {"count": 6}, ticket=again.ticket, again=True, picker=shown
    )

    chosen = await flow.choose(s, alice, analysis.id, None, alice_face.id, opener)
    assert chosen.submitted and opener.calls == 1 and chosen.ticket is not None
    await kit.idle()
    assert await balance(kit, alice) == 2
    async with kit.db.session() as session:
        swap = await db_jobs.get(session, chosen.ticket.job_id)
    # the choice reuses the faces the picker's job found, and is one paid swap of all six
    assert swap.status == JobStatus.SUCCEEDED.value and swap.cost == 1
    assert swap.inputs is not None and swap.inputs["detections"] == analysis.id
    assert swap.params == {"faces": None, "restorer": None, "channel_nsfw": True}


async def test_face_names_and_the_limit(kit: TelegramHarness, astronaut: np.ndarray) -> None:
    user = await person(kit, 0)
    async with kit.db.transaction() as session:
        for n in range(db_faces.MAX_FACES - 1):
            await db_faces.save(
                session, user.id, f"f{n}", chip=b"x", landmarks=[], embeddings={"m": bytes(8)}
            )
    faces = await faces_flow.list_faces(kit.services, user)
    assert faces[0].is_default and len(faces) == db_faces.MAX_FACES - 1
    opener = Opener(user.id)
    assert (await faces_flow.start_save(kit.services, user, photo(kit, astronaut), "f1", opener)).code == (
        "duplicate_name"
    )
    assert (await faces_flow.start_save(kit.services, user, photo(kit, astronaut), "a b", opener)).code == (
        "invalid_name"
    )
    assert (await faces_flow.rename(kit.services, user, faces[1].id, "f2")).code == "duplicate_name"
    assert (await faces_flow.rename(kit.services, user, faces[1].id, "Zoe")) == faces_flow.Answer(
        "face_renamed", {"old": "f1", "name": "zoe"}
    )
    assert opener.calls == 0
    await saved(kit, user, astronaut, "twentieth")  # unnamed would be face1; the 20th face is allowed
    assert (await faces_flow.start_save(kit.services, user, photo(kit, astronaut), None, opener)) == (
        faces_flow.Answer("face_limit", {"limit": db_faces.MAX_FACES})
    )
    stranger = await person(kit, 0)
    for act in (faces_flow.make_default, faces_flow.delete):
        assert (await act(kit.services, stranger, faces[2].id)).code == "face_not_found"
    assert len(await faces_flow.list_faces(kit.services, user)) == db_faces.MAX_FACES


async def test_the_gate_checks_the_photo_then_the_consent_then_lets_the_swap_go(
    kit: TelegramHarness, astronaut: np.ndarray
) -> None:
    """One owner for what every swap passes first (bot/flows/consent.gate), the same for both bots: a
    file that is no picture is refused before anything is asked or held; then the consent holds the
    request under a question; once agreed, nothing stops it."""
    user = await person(kit, 1)
    s = kit.services
    notes = flow.Photo(
        InputRef.telegram("f", "u"), size=10, as_file=True, mime="text/plain", filename="n.txt"
    )
    assert consent_flow.needed(s, user)
    refused = await consent_flow.gate(s, user, flow.SwapRequest.photo(notes))
    assert refused == flow.Answer("not_an_image", {"what": "text/plain"})

    request = flow.SwapRequest.photo(photo(kit, astronaut), names=["eileen"])
    asked = await consent_flow.gate(s, user, request)
    assert asked is not None and asked.code == consent_flow.ASK
    assert await consent_flow.release(s, user, str(asked.params["question"])) == request  # held, once
    assert await consent_flow.release(s, user, str(asked.params["question"])) is None

    assert await consent_flow.agree(s, user, s.config.terms_version) is consent_flow.Agreed.DONE
    async with kit.db.session() as session:
        agreed = await session.get(User, user.id)
    assert agreed is not None and await consent_flow.gate(s, agreed, request) is None
    # and through ``go`` the swap itself answers: this user has no face called eileen
    answer = await consent_flow.go(s, agreed, request, Opener(user.id))
    assert answer == flow.Answer("face_name_not_found", {"name": "eileen"})
