"""Every language says every message: each English code has a non-empty sentence in ru, ko and vi with
the English one's format fields and Telegram commands, the .po files are clean, they ship with the
package, and the catalogue and aiogram's i18n read the same sentences."""

from __future__ import annotations

import re
import string
import tomllib
from collections import Counter
from collections.abc import Mapping
from pathlib import Path

import pytest

from bot.telegram.middlewares.i18n import CatalogueI18n
from bot.texts import DEFAULT_LANGUAGE, Catalogue, po
from jobs import texts as codes

ROOT = Path(__file__).resolve().parents[2]
LANGUAGES = ("en", "ru", "ko", "vi")
CATALOGUE = Catalogue()
ENGLISH = CATALOGUE.languages[DEFAULT_LANGUAGE]
COMMAND = re.compile(r"(?<![\w<])/[a-z_]+")


def format_fields(sentence: str) -> set[tuple[str, str, str | None]]:
    """Each field with its format spec and conversion: ``{size:mb}`` and ``{size}`` differ."""
    return {
        (name, spec or "", conversion)
        for _, name, spec, conversion in string.Formatter().parse(sentence)
        if name is not None
    }


def problems(english: Mapping[str, str], translated: Mapping[str, str]) -> dict[str, str]:
    """What is wrong with one language, code by code."""
    found = {}
    for code, sentence in english.items():
        theirs = translated.get(code)
        if not theirs or not theirs.strip():
            found[code] = "missing"
        elif format_fields(theirs) != format_fields(sentence):
            found[code] = f"fields {sorted(format_fields(theirs))} != {sorted(format_fields(sentence))}"
        elif set(COMMAND.findall(theirs)) != set(COMMAND.findall(sentence)):
            found[code] = f"commands {sorted(set(COMMAND.findall(theirs)))}"
    for code in translated.keys() - english.keys():
        found[code] = "not an English code"
    return found


def test_the_four_languages_are_there() -> None:
    assert set(po.read()) == set(LANGUAGES)
    assert set(CATALOGUE.languages) == set(LANGUAGES)
    assert len(ENGLISH) > 200


@pytest.mark.parametrize("language", [lang for lang in LANGUAGES if lang != DEFAULT_LANGUAGE])
def test_every_message_is_translated_with_the_same_fields(language: str) -> None:
    assert problems(ENGLISH, CATALOGUE.languages[language]) == {}


def test_the_english_po_holds_every_english_sentence() -> None:
    assert po.read()[DEFAULT_LANGUAGE] == dict(ENGLISH)


def test_the_check_finds_a_gap_a_wrong_field_and_a_lost_command() -> None:
    russian = dict(CATALOGUE.languages["ru"])
    english = {code: sentence for code, sentence in ENGLISH.items() if code in russian}
    russian.pop("no_face")
    russian["too_small"] = "Маленькое: {width}×{height}."  # {min_side} lost
    russian["file_too_large"] = russian["file_too_large"].replace("{size:mb}", "{size}")
    russian["faces_empty"] = "Сохранённых лиц нет. Отправьте /setfac."  # not /setface
    russian["job_done"] = "  "
    russian["gone_code"] = "Старое."
    assert problems(english, russian) == {
        "no_face": "missing",
        "job_done": "missing",
        "too_small": "fields [('height', '', None), ('width', '', None)] != "
        "[('height', '', None), ('min_side', '', None), ('width', '', None)]",
        "file_too_large": "fields [('max_bytes', 'mb', None), ('size', '', None)] != "
        "[('max_bytes', 'mb', None), ('size', 'mb', None)]",
        "faces_empty": "commands ['/setfac']",
        "gone_code": "not an English code",
    }


@pytest.mark.parametrize("language", LANGUAGES)
def test_each_po_file_is_clean(language: str) -> None:
    """One entry per code, nothing fuzzy or empty (either would silently fall back to English)."""
    text = po.path(language).read_text(encoding="utf-8")
    ids = Counter(re.findall(r'^msgid "(\w+)"$', text, flags=re.MULTILINE))
    assert [code for code, n in ids.items() if n > 1] == []
    assert set(ids) == set(ENGLISH)
    assert "#, fuzzy" not in text
    assert f'"Language: {language}\\n"' in text


def test_the_catalogues_ship_with_the_package() -> None:
    """A wheel or a fresh install carries the .po files: pyproject's package data matches them all."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    patterns = config["tool"]["setuptools"]["package-data"]["bot"]
    shipped = {path for pattern in patterns for path in (ROOT / "bot").glob(pattern)}
    assert {po.path(language) for language in LANGUAGES} <= shipped
    dependencies = " ".join(config["project"]["dependencies"]).lower()
    assert "babel" in dependencies


def test_sentences_render_in_each_language_with_their_params() -> None:
    for language in LANGUAGES:
        text = CATALOGUE.text("too_small", language, width=40, height=30, min_side=64)
        assert "40×30" in text and "64" in text and "?" not in text
        size = CATALOGUE.text("file_too_large", language, size=25_312_000, max_bytes=20_000_000)
        assert "25.3" in size and "20" in size
    assert CATALOGUE.text("job_done", "ru") == "Готово."
    assert CATALOGUE.text("job_done", "ru-RU") == CATALOGUE.text("job_done", "ru")
    assert CATALOGUE.text("job_done", "de") == ENGLISH["job_done"]  # a language we do not have
    # The variant rules hold in every language: a selecting param and a missing one.
    assert CATALOGUE.text("no_face", "ko", role="target") == CATALOGUE.languages["ko"]["no_face_target"]
    assert CATALOGUE.text("job_queued", "vi") == CATALOGUE.languages["vi"]["job_queued_no_position"]
    assert CATALOGUE.text(codes.FAILED, "ru", reason="timeout", refunded=True) == (
        f"{CATALOGUE.languages['ru']['timeout']} {CATALOGUE.languages['ru']['refunded']}"
    )


def test_no_translation_is_left_in_english() -> None:
    """A sentence copied over untranslated would pass the field check: only short labels, names and
    pure templates may read the same in English."""
    words = {code: re.sub(r"\{[^}]*\}", "", sentence) for code, sentence in ENGLISH.items()}
    same_ok = {code for code, text in words.items() if not re.search(r"[a-z]{4,}", text)}
    same_ok |= {"caricature_style_openai", "caricature_style_replicate"}
    for language in ("ru", "ko", "vi"):
        sentences = CATALOGUE.languages[language]
        copied = {code for code in ENGLISH if sentences.get(code) == ENGLISH[code]} - same_ok
        assert copied == set(), language


def test_aiogram_i18n_reads_the_catalogues_sentences() -> None:
    i18n = CatalogueI18n(CATALOGUE)
    assert set(i18n.available_locales) == set(LANGUAGES)
    for language in LANGUAGES:
        for code, sentence in CATALOGUE.languages[language].items():
            assert i18n.gettext(code, locale=language) == sentence
    with i18n.context(), i18n.use_locale("ko"):
        assert i18n.gettext("swap_all") == "전부"
    # A code a language lacks falls back to English there too, as the catalogue's text() does.
    partial = Catalogue({"en": ENGLISH, "ru": {"job_done": "Готово."}})
    assert CatalogueI18n(partial).gettext("timeout", locale="ru") == ENGLISH["timeout"]
