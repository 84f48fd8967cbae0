"""The sentences on disk: one gettext catalogue per language,
``bot/texts/locales/<lang>/LC_MESSAGES/swapbot.po``, whose msgid is the stable code and msgstr the
sentence (a ``str.format`` template over the code's params). English is the reference.

The .po files are read with Babel when the process starts rather than compiled to .mo by a build
step: swapbot is installed editable (``pip install -e``, scripts/setup.sh) and run from a clone, where
no build step runs, so a compiled .mo would be one more file to forget or to leave stale beside an
edited .po. Reading a few hundred short messages per language takes milliseconds. aiogram's ``I18n``
gets ``GNUTranslations`` built in memory from the same sentences (``translations``).
"""

from __future__ import annotations

import gettext
from collections.abc import Mapping
from io import BytesIO
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

LOCALES = Path(__file__).with_name("locales")
DOMAIN = "swapbot"


def path(language: str, directory: Path = LOCALES) -> Path:
    return directory / language / "LC_MESSAGES" / f"{DOMAIN}.po"


def read(directory: Path = LOCALES) -> dict[str, dict[str, str]]:
    """Every language found under ``directory``: its code -> sentence. An empty or fuzzy entry is left
    out, so the catalogue falls back to English for it (and tests/bot/test_languages.py fails)."""
    languages: dict[str, dict[str, str]] = {}
    for file in sorted(directory.glob(f"*/LC_MESSAGES/{DOMAIN}.po")):
        language = file.parents[1].name
        with file.open("rb") as fp:
            catalog = read_po(fp, domain=DOMAIN, abort_invalid=True)
        languages[language] = {
            message.id: message.string
            for message in catalog
            if isinstance(message.id, str) and message.id and message.string and not message.fuzzy
        }
    return languages


def translations(sentences: Mapping[str, str], language: str) -> gettext.GNUTranslations:
    """``sentences`` as the GNUTranslations aiogram's I18n looks messages up in (.mo bytes in memory)."""
    catalog = Catalog(locale=language, domain=DOMAIN)
    for code, sentence in sentences.items():
        catalog.add(code, sentence)
    buffer = BytesIO()
    write_mo(buffer, catalog)
    buffer.seek(0)
    return gettext.GNUTranslations(buffer)
