"""Consent to the terms before the first swap: only faces of people who agreed, nothing explicit or
harassing. Agreeing records the time and the terms version (BotConfig.terms_version) in the user row;
when the operator publishes a new version, everyone is asked again. Until then nothing is swapped,
submitted or charged: the platform layer asks (a button) instead of calling the swap flows."""

from __future__ import annotations

from enum import StrEnum

from bot.services import Services
from db import users as db_users
from db.models import User

ASK = "consent_ask"


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
