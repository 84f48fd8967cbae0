"""Middlewares, in the order an update meets them: dedupe (an update handled once), user (who is
talking: get or create, bans; injects ``user``), language (aiogram's i18n: the user's language;
injects ``t``), throttling (a per-user token bucket; inner, so only for updates a handler takes).
``outgoing`` is on the Bot's session: Telegram's sending limits and 429s."""

from bot.telegram.middlewares.dedupe import DedupeMiddleware
from bot.telegram.middlewares.i18n import CatalogueI18n, LanguageMiddleware
from bot.telegram.middlewares.logcontext import LogContextMiddleware
from bot.telegram.middlewares.outgoing import OutgoingLimits, OutgoingMiddleware
from bot.telegram.middlewares.throttling import ThrottlingMiddleware
from bot.telegram.middlewares.user import UserMiddleware

__all__ = [
    "CatalogueI18n",
    "DedupeMiddleware",
    "LanguageMiddleware",
    "LogContextMiddleware",
    "OutgoingLimits",
    "OutgoingMiddleware",
    "ThrottlingMiddleware",
    "UserMiddleware",
]
