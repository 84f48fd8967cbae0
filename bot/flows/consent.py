"""Consent to the terms before the first swap: only faces of people who agreed, nothing explicit or
harassing. Agreeing records the time and the terms version (BotConfig.terms_version) in the user row;
when the operator publishes a new version, everyone is asked again. Until then nothing is swapped,
submitted or charged. ``gate`` (and ``go``: gate, then swap) is the one way a swap a person asks for
starts: its photos are checked, then the consent (the answer ``ASK`` names the question the platform
layer asks with its buttons).

The swap that asked is not lost: ``hold`` keeps its ``SwapRequest`` on our side (services.pending,
Redis when REDIS_URL is set) under a fresh question id, belonging to the asker, for
``QUESTION_LIFETIME_S``. The question's buttons carry that id; "I agree" ``release``s the request (it
goes ahead, through ``swap.perform``, as its handler would have run it) and "No" drops it. A press
finds only the presser's own requests, and each one once: a forged, replayed or foreign press, or one
after the question expired, finds nothing and queues nothing. The button's data is never the request.
"""

from __future__ import annotations

import secrets
from enum import StrEnum

from bot.flows.base import Answer, OpenStatus, check_photo
from bot.flows.swap import SwapRequest, perform
from bot.services import Services
from db import users as db_users
from db.models import User

ASK = "consent_ask"
QUESTION_LIFETIME_S = 3600.0  # time to read the rules; Telegram file ids and Discord URLs outlive it
QUESTION_CHARS = r"[A-Za-z0-9_-]{8}"  # a question id's form (``token_urlsafe(6)``), for the buttons


async def gate(services: Services, user: User, request: SwapRequest) -> Answer | None:
    """What a swap a person asks for must pass before any work, in the order a person should hear why
    not: its photos (too large, not a picture: refused before anything is asked or downloaded), then
    the consent (``ASK`` with ``question``, the id its buttons carry: the request waits for the
    answer). None: it may go ahead. Nothing here is slow: an adapter answers at once."""
    for photo in request.photos:
        refused = check_photo(services, photo)
        if refused is not None:
            return refused
    if needed(services, user):
        return Answer(ASK, {"question": await hold(services, user, request)})
    return None


async def go(services: Services, user: User, request: SwapRequest, open_status: OpenStatus) -> Answer:
    """``gate``, then the swap (``swap.perform``)."""
    stopped = await gate(services, user, request)
    return stopped if stopped is not None else await perform(services, user, request, open_status)


def _key(user: User, question: str) -> str:
    return f"consent:{user.id}:{question}"


async def hold(services: Services, user: User, request: SwapRequest) -> str:
    """Keep ``request`` until ``user`` answers the question; the question's id (for its buttons)."""
    question = secrets.token_urlsafe(6)
    value = {"user": user.id, "request": request.to_json()}
    await services.pending.put(_key(user, question), value, QUESTION_LIFETIME_S)
    return question


async def release(services: Services, user: User, question: str) -> SwapRequest | None:
    """The request ``user``'s question ``question`` held, handed out once; None when there is none
    (never asked, someone else's, expired, or already answered)."""
    held = await services.pending.take(_key(user, question))
    if held is None or held.get("user") != user.id:
        return None
    return SwapRequest.from_json(held["request"])


async def drop(services: Services, user: User, question: str) -> None:
    """A "No": the request is forgotten, nothing is queued or charged."""
    await services.pending.take(_key(user, question))


def needed(services: Services, user: User) -> bool:
    """Whether ``user`` must agree (again) before a swap."""
    return user.terms_version != services.config.terms_version or user.terms_accepted_at is None


class Agreed(StrEnum):
    DONE = "consent_agreed"
    STALE = "consent_changed"  # the button named an older version: the current terms are asked again


async def agree(services: Services, user: User, version: str) -> Agreed:
    """The agree button for terms ``version``: recorded only when it is the version in force, so a
    button shown before the operator changed the terms does not stand for the new ones."""
    if version != services.config.terms_version:
        return Agreed.STALE
    async with services.db.transaction() as session:
        await db_users.accept_terms(session, user.id, version)
    return Agreed.DONE
