"""What the chat harnesses use so that the people they make have agreed to the terms (the default:
tests of other features swap without the consent question), made as the bots would make them."""

from __future__ import annotations

from bot import people
from bot.services import Services
from db import users


async def agree_first(
    services: Services,
    platform: str,
    external_id: int | str,
    *,
    display_name: str | None = None,
    language: str | None = None,
) -> None:
    """The person's row, made as their first update would make it (free credits included), with the
    terms in force agreed to."""
    entry = await people.enter(services, platform, external_id, display_name=display_name, language=language)
    async with services.db.transaction() as session:
        await users.accept_terms(session, entry.user.id, services.config.terms_version)
