"""The catalogue: a stable code and its parameters in, a sentence in the user's language out.

engine/ and jobs/ raise or store codes (``no_face``, ``too_small`` with ``{min_side, width, height}``)
and never write sentences for people; the bots, the worker's status messages and the command line
all say things through one ``Catalogue``. English is the reference language: every code has an
English sentence, and a language without a sentence for a code falls back to it.
"""

from __future__ import annotations

import string
from collections.abc import Mapping
from typing import Any

from bot.texts import en

DEFAULT_LANGUAGE = "en"
LANGUAGES: dict[str, Mapping[str, str]] = {"en": en.SENTENCES}


class Catalogue:
    """Implements ``jobs.texts.Texts``. Sentences are ``str.format`` templates over the code's params."""

    def __init__(self, languages: Mapping[str, Mapping[str, str]] | None = None) -> None:
        self.languages = dict(languages or LANGUAGES)

    def codes(self, language: str = DEFAULT_LANGUAGE) -> frozenset[str]:
        return frozenset(self.languages.get(language, {}))

    def has(self, code: str) -> bool:
        return code in self.languages[DEFAULT_LANGUAGE]

    def text(self, code: str, language: str | None = None, /, **params: Any) -> str:
        lang = _language(language, self.languages)
        if code == en.JOB_FAILED:
            reason = str(params.pop("reason", "internal_error"))
            refunded = bool(params.pop("refunded", False))
            sentence = self.text(reason, lang, **params)
            return f"{sentence} {self.text(en.REFUNDED, lang)}" if refunded else sentence
        if code == en.JOB_QUEUED and params.get("position") is None:
            code = en.JOB_QUEUED_NO_POSITION
        if code == en.JOB_CANCELLED and params.pop("refunded", False):
            code = en.JOB_CANCELLED_REFUNDED
        template = self.languages[lang].get(code) or self.languages[DEFAULT_LANGUAGE].get(code)
        if template is None:
            template = self.languages[lang].get(en.UNKNOWN) or en.SENTENCES[en.UNKNOWN]
        return _format(template, params)


def _language(language: str | None, languages: Mapping[str, Mapping[str, str]]) -> str:
    """``pt-BR`` -> ``pt``; anything we do not have -> English."""
    if not language:
        return DEFAULT_LANGUAGE
    base = language.replace("_", "-").split("-")[0].lower()
    return base if base in languages else DEFAULT_LANGUAGE


class _Params(dict[str, Any]):
    def __missing__(self, key: str) -> str:
        return "?"  # a caller that forgot a parameter gets a readable sentence, never a crash


def _format(template: str, params: Mapping[str, Any]) -> str:
    return string.Formatter().vformat(template, (), _Params(params))
