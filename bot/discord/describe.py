"""Command and option descriptions from the catalogue: the English sentence is the default Discord
shows, and the tree's translator gives the other languages (Discord asks for each locale at sync)."""

from __future__ import annotations

from typing import Any

import discord
from discord import app_commands

from bot.flows.settings import LANGUAGES
from bot.people import language_code
from bot.texts import DEFAULT_LANGUAGE, Catalogue
from bot.texts import LANGUAGES as SENTENCES

MAX_DESCRIPTION = 100  # Discord's limit on a description


def describe(code: str) -> app_commands.locale_str:
    """The description for catalogue ``code``: English now, other languages through the translator."""
    return app_commands.locale_str(SENTENCES[DEFAULT_LANGUAGE][code][:MAX_DESCRIPTION], code=code)


class CatalogueTranslator(app_commands.Translator):
    def __init__(self, texts: Catalogue) -> None:
        self.texts = texts

    async def translate(
        self,
        string: app_commands.locale_str,
        locale: discord.Locale,
        context: app_commands.TranslationContextTypes,
    ) -> str | None:
        code: Any = string.extras.get("code")
        language = language_code(str(locale))
        if not isinstance(code, str) or language == DEFAULT_LANGUAGE or language not in LANGUAGES:
            return None
        if code not in self.texts.languages.get(language or "", {}):
            return None
        return self.texts.text(code, language)[:MAX_DESCRIPTION]
