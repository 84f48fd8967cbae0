"""The catalogue: a stable code and its parameters in, a sentence in the user's language out.

engine/ and jobs/ raise or store codes (``no_face``, ``too_small`` with ``{min_side, width, height}``)
and never write sentences for people; the bots, the worker's status messages and the command line
all say things through one ``Catalogue``. The sentences live in gettext catalogues, one .po file per
language under ``bot/texts/locales`` (msgid = the code; see ``po.py``). English is the reference
language: every code has an English sentence, and a language without a sentence for a code falls
back to it. Two more kinds of key, both optional in every language: ``<code>_<value>`` is read
instead of ``<code>`` when a selecting param (``role``, ``hint``) has that value, and
``<code>_no_<param>`` when a param the sentence uses is missing or None. ``{size:mb}`` writes a byte
count in megabytes. The Telegram bot's aiogram ``I18n`` reads the same sentences (``translations``).
"""

from __future__ import annotations

import gettext
import string
from collections.abc import Mapping
from typing import Any

from bot.texts import po
from jobs import texts as codes

DEFAULT_LANGUAGE = "en"
LANGUAGES: dict[str, Mapping[str, str]] = dict(po.read())

REFUNDED = "refunded"  # appended to a failure's sentence when the credits came back
UNKNOWN = "unknown_error"  # a code no language has a sentence for
# Params whose value picks a more specific sentence: no_face with role="source" reads no_face_source.
SELECTORS = ("role", "hint")


class Catalogue:
    """Implements ``jobs.texts.Texts``. Sentences are ``str.format`` templates over the code's params."""

    def __init__(self, languages: Mapping[str, Mapping[str, str]] | None = None) -> None:
        self.languages = dict(languages or LANGUAGES)

    def text(self, code: str, language: str | None = None, /, **params: Any) -> str:
        lang = _language(language, self.languages)
        if code == codes.FAILED:
            reason = str(params.pop("reason", "internal_error"))
            refunded = bool(params.pop("refunded", False))
            sentence = self.text(reason, lang, **params)
            return f"{sentence} {self.text(REFUNDED, lang)}" if refunded else sentence
        if code == codes.CANCELLED and params.pop("refunded", False):
            code = f"{codes.CANCELLED}_refunded"
        template = (
            _template(self.languages[lang], code, params)
            or _template(self.languages[DEFAULT_LANGUAGE], code, params)
            or self.languages[lang].get(UNKNOWN)
            or self.languages[DEFAULT_LANGUAGE][UNKNOWN]
        )
        return _FORMATTER.vformat(template, (), params)

    def translations(self) -> dict[str, gettext.GNUTranslations]:
        """Every language as the GNUTranslations aiogram's ``I18n`` looks messages up in: the same
        templates ``text`` reads, each language falling back to English as ``text`` does."""
        english = po.translations(self.languages[DEFAULT_LANGUAGE], DEFAULT_LANGUAGE)
        found = {DEFAULT_LANGUAGE: english}
        for language, sentences in self.languages.items():
            if language != DEFAULT_LANGUAGE:
                found[language] = po.translations(sentences, language)
                found[language].add_fallback(english)
        return found


def _language(language: str | None, languages: Mapping[str, Mapping[str, str]]) -> str:
    """``pt-BR`` -> ``pt``; anything we do not have -> English."""
    if not language:
        return DEFAULT_LANGUAGE
    base = language.replace("_", "-").split("-")[0].lower()
    return base if base in languages else DEFAULT_LANGUAGE


def _template(sentences: Mapping[str, str], code: str, params: Mapping[str, Any]) -> str | None:
    """This language's sentence for ``code``: the variant a selecting param names, else the plain one,
    or its ``_no_<param>`` variant when a param it uses is missing."""
    for name in SELECTORS:
        variant = sentences.get(f"{code}_{params.get(name)}")
        if params.get(name) is not None and variant is not None:
            return variant
    template = sentences.get(code)
    if template is None:
        return None
    for field in fields(template):
        variant = sentences.get(f"{code}_no_{field}")
        if params.get(field) is None and variant is not None:
            return variant
    return template


def fields(template: str) -> list[str]:
    """The param names a sentence uses."""
    return [name for _, name, _, _ in string.Formatter().parse(template) if name]


class _Missing:
    """A param the caller did not give: the sentence shows "?" rather than failing."""


class _Formatter(string.Formatter):
    def get_value(self, key: int | str, args: Any, kwargs: Mapping[str, Any]) -> Any:
        value = kwargs.get(key) if isinstance(key, str) else None
        return _Missing() if value is None else value

    def format_field(self, value: Any, format_spec: str) -> str:
        if isinstance(value, _Missing):
            return "?"
        if format_spec == "mb" and isinstance(value, (int, float)):
            return f"{value / 1_000_000:,.1f}".removesuffix(".0")
        try:
            return super().format_field(value, format_spec)
        except (TypeError, ValueError):  # a param of another type than the sentence expects
            return str(value)


_FORMATTER = _Formatter()
