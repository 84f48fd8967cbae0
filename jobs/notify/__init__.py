"""Result delivery and status messages, one small notifier per platform.

A notifier raises ``DeliveryError`` when the platform should be asked again later (5xx, 429 with its
``retry_after``, network) and ``ChatUnavailable`` when it never will take it (the user blocked the bot);
``status`` edits the one status message of a job, so a chat sees queued (#n) -> working -> done
in a single message instead of a stream of them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from db.models import Job, User
from jobs.results import Result


@dataclass(frozen=True, slots=True)
class Target:
    """Where a job's messages go, read from its row (and its user's, for Discord DMs and language)."""

    job_id: str
    platform: str
    chat: str
    message: str | None = None  # the status message to edit
    token: str | None = None  # Discord interaction token
    token_expires_at: datetime | None = None
    user_external_id: str | None = None
    language: str | None = None

    @classmethod
    def of(cls, job: Job, user: User | None = None) -> Target | None:
        if job.deliver_platform is None or job.deliver_chat is None:
            return None
        return cls(
            job_id=job.id,
            platform=job.deliver_platform,
            chat=job.deliver_chat,
            message=job.deliver_message,
            token=job.deliver_token,
            token_expires_at=job.deliver_token_expires_at,
            user_external_id=user.external_id if user is not None else None,
            language=user.language if user is not None else None,
        )


class Notifier(Protocol):
    platform: str

    async def status(self, target: Target, text: str) -> None:
        """Edit the status message to ``text`` (nothing when the job has none)."""
        ...

    async def deliver(self, target: Target, result: Result, caption: str) -> str:
        """Send the result; returns a reference that ``resend`` can send again without the bytes."""
        ...

    async def resend(self, target: Target, ref: str, caption: str) -> str:
        """Send a stored result again (another chat, a lost message) without any GPU work."""
        ...

    async def notice(self, target: Target, text: str) -> None:
        """Say ``text`` in the status message, or as a new message when there is none."""
        ...

    async def close(self) -> None: ...


Notifiers = Mapping[str, Notifier]


class UnknownPlatform(LookupError):
    def __init__(self, platform: str) -> None:
        self.platform = platform
        super().__init__(f"no notifier for platform {platform!r}")


def notifier_for(notifiers: Notifiers, target: Target) -> Notifier:
    try:
        return notifiers[target.platform]
    except KeyError:
        raise UnknownPlatform(target.platform) from None
