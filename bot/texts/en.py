"""English, the reference language. Its sentences live in ``locales/en/LC_MESSAGES/swapbot.po``, beside
every other language's (read by ``po.py``; the key rules are in ``bot/texts/__init__.py``): a new code
gets its English sentence there and a sentence in ru, ko and vi in theirs, or
tests/bot/test_languages.py fails. ``SENTENCES`` is the English catalogue as read, for the code and
tests that name it."""

from __future__ import annotations

from collections.abc import Mapping

from bot.texts import DEFAULT_LANGUAGE, LANGUAGES

SENTENCES: Mapping[str, str] = LANGUAGES[DEFAULT_LANGUAGE]
