"""The user's language, through aiogram's i18n.

``CatalogueI18n`` is an aiogram ``I18n`` whose locales are the bot's ``Catalogue`` (the .po files read
by bot/texts/po.py), so aiogram's ``gettext`` and the handlers' ``t`` read the same sentences.
``LanguageMiddleware`` picks the language of each update: the user's stored one (Telegram's language
on first contact, or the choice made in /settings), else the update's Telegram ``language_code``,
else English. It enters aiogram's i18n context with it and injects ``t`` (``t(code, **params)``: the
catalogue's sentence in that language, with its variant and fallback rules).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from gettext import GNUTranslations
from typing import Any

from aiogram.types import TelegramObject
from aiogram.types import User as TelegramUser
from aiogram.utils.i18n import I18n, I18nMiddleware

from bot.people import language_code, translator
from bot.services import Services
from bot.texts import DEFAULT_LANGUAGE, Catalogue, po
from db.models import User


class CatalogueI18n(I18n):
    """aiogram's I18n over a Catalogue: nothing is read from compiled .mo files (see bot/texts/po.py)."""

    def __init__(self, texts: Catalogue) -> None:
        self.texts = texts
        super().__init__(path=po.LOCALES, default_locale=DEFAULT_LANGUAGE, domain=po.DOMAIN)

    def find_locales(self) -> dict[str, GNUTranslations]:
        return self.texts.translations()

    @contextmanager
    def context(self) -> Iterator[I18n]:
        """aiogram gives every subclass its own "current instance", but its ``gettext`` looks up
        ``I18n``'s: become that one, or ``gettext`` in a handler finds no context."""
        token = I18n.set_current(self)
        try:
            yield self
        finally:
            I18n.reset_current(token)


class LanguageMiddleware(I18nMiddleware):
    """Outer middleware on updates, after the user middleware (which finds or creates ``user``)."""

    async def get_locale(self, event: TelegramObject, data: dict[str, Any]) -> str:
        user: User | None = data.get("user")
        sender: TelegramUser | None = data.get("event_from_user")
        for tag in (user.language if user else None, sender.language_code if sender else None):
            language = language_code(tag)
            if language in self.i18n.available_locales:
                return language
        return self.i18n.default_locale

    async def __call__(
        self,
        handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
        event: TelegramObject,
        data: dict[str, Any],
    ) -> Any:
        services: Services = data["services"]
        data["t"] = translator(services, await self.get_locale(event, data))
        return await super().__call__(handler, event, data)
