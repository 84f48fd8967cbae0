"""The one way jobs/ tells a chat something about a job: a status (queued, working, done, cancelled) or
how it ended (failed, expired). Sentences come from the catalogue in the user's language; a message
that does not get through is logged and the job goes on, the same way for every caller."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import structlog

from db import jobs as db_jobs
from db.jobs import Delivery
from db.session import Database
from jobs.errors import ChatUnavailable
from jobs.notify import Notifier, Target
from jobs.texts import Texts

log = structlog.get_logger("jobs.notify")


class Teller:
    def __init__(self, db: Database, notifiers: Mapping[str, Notifier], texts: Texts) -> None:
        self.db = db
        self.notifiers = notifiers
        self.texts = texts

    def notifier(self, target: Target | None) -> Notifier | None:
        return self.notifiers.get(target.delivery.platform) if target is not None else None

    def reaches(self, delivery: Delivery | None) -> bool:
        return delivery is not None and delivery.platform in self.notifiers

    async def status(
        self, target: Target | None, code: str, /, *, strict: bool = False, **params: Any
    ) -> bool:
        """Edit the job's status message to the sentence for ``code``; True when it got through. A failed
        edit is cosmetic, except with ``strict``: then a chat gone for good (``ChatUnavailable``) is
        raised, because the job cannot be delivered and should stop before any GPU work."""
        return await self._say(target, code, params, notice=False, strict=strict)

    async def ending(self, target: Target | None, code: str, /, **params: Any) -> bool:
        """Say how a finished job ended, in its status message or as a new message when it has none, and
        record the job delivered (the outcome reached the chat: it is said once)."""
        told = await self._say(target, code, params, notice=True, strict=False)
        if told and target is not None:
            async with self.db.transaction() as session:
                await db_jobs.mark_delivered(session, target.job_id)
        return told

    async def _say(
        self, target: Target | None, code: str, params: dict[str, Any], *, notice: bool, strict: bool
    ) -> bool:
        notifier = self.notifier(target)
        if notifier is None or target is None:
            return False
        text = self.texts.text(code, target.language, **params)
        try:
            if notice:
                await notifier.notice(target, text)
            else:
                await notifier.status(target, text)
        except ChatUnavailable:
            if strict:
                raise
            log.info("chat gone, not told", job_id=target.job_id, code=code)
            return False
        except Exception as exc:  # the job's outcome stands whether or not the chat heard of it
            log.info("chat not told", job_id=target.job_id, code=code, error=repr(exc))
            return False
        return True
