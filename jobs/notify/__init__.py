"""Result delivery and status messages, one small notifier per platform.

A notifier raises ``DeliveryError`` when the platform should be asked again later (5xx, 429 with its
``retry_after``, network) and ``ChatUnavailable`` when it never will take it (the user blocked the bot);
``status`` edits the one status message of a job, so a chat sees queued (#n) -> working -> done
in a single message instead of a stream of them. The rest of jobs/ says things to chats through
``teller.Teller``; the notifiers of a process are opened once, by ``clients.open_clients``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from db.jobs import Delivery, delivery_of
from db.models import Job, User
from jobs.results import Result


@dataclass(frozen=True, slots=True)
class Target:
    """Where a job's messages go: its ``Delivery``, plus what its user's row adds (Discord DMs, language)
    and what a picker's buttons name (the job's kind, params and saved face)."""

    job_id: str
    delivery: Delivery
    user_external_id: str | None = None
    language: str | None = None
    kind: str | None = None
    params: Mapping[str, Any] = field(default_factory=dict)
    saved_face: int | None = None

    @classmethod
    def of(cls, job: Job, user: User | None = None) -> Target | None:
        delivery = delivery_of(job)
        if delivery is None:
            return None
        saved_face = (job.inputs or {}).get("saved_face")
        return cls(
            job.id,
            delivery,
            user_external_id=user.external_id if user is not None else None,
            language=user.language if user is not None else None,
            kind=job.kind,
            params=dict(job.params or {}),
            saved_face=int(saved_face) if saved_face is not None else None,
        )


class ResultMarkup(Protocol):
    """The buttons of a numbered preview (the face picker) that the job ``target`` delivers, filled in
    by the composition root from a bot's keyboards: jobs/ knows no bot. None: no buttons."""

    def __call__(self, target: Target, face_count: int) -> Any | None: ...


Markups = Mapping[str, ResultMarkup]
"""A process's ``ResultMarkup`` per platform ("telegram", "discord")."""


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


@runtime_checkable
class ShowsActivity(Protocol):
    """A notifier that can show the chat that work is going on (Telegram's chat action, which lasts
    about 5 s or until the next message): the worker repeats it while the engine works."""

    async def busy(self, target: Target) -> None: ...


Notifiers = Mapping[str, Notifier]
