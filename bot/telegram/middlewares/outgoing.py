"""Telegram's sending limits, on the Bot's session (every call the bot makes passes here): about one
new message a second in a chat (20 a minute in a group), about 30 a second overall, with a short
burst allowed; a 429 is waited out for its ``retry_after`` and the call made again, never dropped.

Only new messages are spaced (send*, copy, forward): edits of a status message ("queued" ->
"working") and answers to button presses are not messages in Telegram's sense, and spacing them
would delay every result by seconds. Should Telegram disagree, its 429 is the safety net."""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from typing import Any

from aiogram import Bot
from aiogram.client.session.middlewares.base import BaseRequestMiddleware, NextRequestMiddlewareType
from aiogram.exceptions import TelegramRetryAfter
from aiogram.methods import Response, TelegramMethod
from aiogram.methods.base import TelegramType

log = logging.getLogger(__name__)

# Calls that put a new message in a chat; the rest (edits, getFile, answerCallbackQuery) are not spaced.
# sendChatAction is a status, not a message.
_SENDING_PREFIXES = ("send", "copy", "forward")
_NOT_MESSAGES = frozenset({"sendchataction"})


@dataclass(frozen=True, slots=True)
class OutgoingLimits:
    per_chat_per_s: float = 1.0
    per_group_per_s: float = 20 / 60
    chat_burst: int = 3  # a status message, its edits and the result may go out together
    overall_per_s: float = 30.0
    overall_burst: int = 30
    max_retries: int = 20  # 429s in a row before the call fails (to the caller's own retry)


class _Schedule:
    """Virtual scheduling (GCRA): each key's next free slot; a caller reserves one and sleeps until it,
    so concurrent senders queue up in order without a lock (one event loop)."""

    def __init__(self) -> None:
        self._next: dict[Any, float] = {}
        self._sweep_at = 0.0

    def reserve(self, key: Any, interval_s: float, burst: int) -> float:
        """Seconds to wait before sending on ``key``."""
        now = time.monotonic()
        if now >= self._sweep_at:  # forget chats that have been quiet
            self._next = {k: at for k, at in self._next.items() if at > now}
            self._sweep_at = now + 60.0
        at = max(self._next.get(key, now), now)
        self._next[key] = at + interval_s
        return max(0.0, at - (burst - 1) * interval_s - now)

    def hold(self, key: Any, until_s: float) -> None:
        """Nothing goes out on ``key`` for ``until_s`` seconds (Telegram asked us to wait)."""
        self._next[key] = max(self._next.get(key, 0.0), time.monotonic() + until_s)


class OutgoingMiddleware(BaseRequestMiddleware):
    def __init__(self, limits: OutgoingLimits | None = None) -> None:
        self.limits = limits or OutgoingLimits()
        self._schedule = _Schedule()

    async def __call__(
        self,
        make_request: NextRequestMiddlewareType[TelegramType],
        bot: Bot,
        method: TelegramMethod[TelegramType],
    ) -> Response[TelegramType]:
        chat_id = getattr(method, "chat_id", None)
        name = method.__api_method__.lower()
        sending = chat_id is not None and name.startswith(_SENDING_PREFIXES) and name not in _NOT_MESSAGES
        retries = 0
        while True:
            if sending and chat_id is not None:
                await self._wait_turn(chat_id)
            try:
                return await make_request(bot, method)
            except TelegramRetryAfter as exc:
                retries += 1
                if retries > self.limits.max_retries:
                    raise
                log.warning(
                    "telegram 429 on %s: waiting %s s (try %d)",
                    method.__api_method__,
                    exc.retry_after,
                    retries,
                )
                if chat_id is not None:
                    self._schedule.hold(("chat", chat_id), float(exc.retry_after))
                await asyncio.sleep(float(exc.retry_after))

    async def _wait_turn(self, chat_id: int | str) -> None:
        limits = self.limits
        group = isinstance(chat_id, str) or chat_id < 0  # @channel names and group ids
        rate = limits.per_group_per_s if group else limits.per_chat_per_s
        wait = self._schedule.reserve(("chat", chat_id), 1.0 / rate, limits.chat_burst)
        overall = self._schedule.reserve("all", 1.0 / limits.overall_per_s, limits.overall_burst)
        if max(wait, overall) > 0:
            await asyncio.sleep(max(wait, overall))
