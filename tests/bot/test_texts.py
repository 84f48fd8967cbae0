"""The catalogue: codes and params in, sentences out, with fallbacks that never crash."""

from __future__ import annotations

from bot.texts import Catalogue, en
from jobs import texts as codes

ENGLISH = Catalogue()
# A second language that has only some sentences: everything else falls back to English.
PARTIAL = Catalogue(
    {
        "en": en.SENTENCES,
        "ru": {
            "no_face": "Лицо не найдено.",
            "refunded": "Кредиты возвращены.",
            "unknown_error": "Что-то пошло не так.",
        },
    }
)


def test_params_fill_the_sentence() -> None:
    text = ENGLISH.text("too_small", None, width=40, height=30, min_side=64)
    assert "40×30" in text and "64" in text and "?" not in text


def test_queued_with_and_without_a_position() -> None:
    assert ENGLISH.text(codes.QUEUED, None, position=3) == "Queued: you are #3."
    assert ENGLISH.text(codes.QUEUED, None, position=None) == "Queued."
    assert ENGLISH.text(codes.QUEUED) == "Queued."


def test_a_missing_param_reads_as_a_question_mark_never_a_crash() -> None:
    assert ENGLISH.text("bad_face_index", None, number=9) == (
        "There is no face 9: the photo has ? face(s). Please pick a number from 1 to ?."
    )
    # A format spec on a missing param, or on a param of another type, still renders.
    assert "? megapixels" in ENGLISH.text("too_large", None, width=1, height=2, max_side=3)
    assert "lots megapixels" in ENGLISH.text(
        "too_large", None, width=1, height=2, max_side=3, max_megapixels="lots"
    )


def test_a_none_param_picks_the_sentence_written_without_it() -> None:
    named = ENGLISH.text("not_an_image", None, what="a PDF document")
    unnamed = ENGLISH.text("not_an_image", None, what=None)
    assert named.startswith("This is a PDF document, not a picture.")
    assert unnamed.startswith("This file is not a picture I can read.") and "None" not in unnamed
    no_size = ENGLISH.text("file_too_large", None, size=None, max_bytes=20_000_000)
    assert "20 MB" in no_size and "?" not in no_size


def test_a_selecting_param_picks_its_variant_and_falls_back_to_the_plain_sentence() -> None:
    assert "animations" in ENGLISH.text("unsupported_format", None, format="GIF", hint="animation")
    assert "iPhone" in ENGLISH.text("unsupported_format", None, format="HEIC", hint="iphone")
    plain = ENGLISH.text("unsupported_format", None, format="TIFF", hint=None)
    assert plain == ENGLISH.text("unsupported_format", None, format="TIFF", hint="a-hint-we-never-wrote")
    assert "TIFF" in plain
    assert ENGLISH.text("no_face", None, role="source") != ENGLISH.text("no_face", None, role="target")
    assert ENGLISH.text("no_face", None, role=None) == en.SENTENCES["no_face"]


def test_byte_counts_read_in_megabytes() -> None:
    text = ENGLISH.text("file_too_large", None, size=25_312_000, max_bytes=20_000_000)
    assert "25.3 MB" in text and "20 MB" in text


def test_failures_compose_the_reason_and_the_refund() -> None:
    refunded = ENGLISH.text(codes.FAILED, None, reason="bad_face_index", number=4, count=2, refunded=True)
    assert refunded.startswith("There is no face 4: the photo has 2 face(s).")
    assert refunded.endswith(" Your credits were refunded.")
    kept = ENGLISH.text(codes.FAILED, None, reason="timeout", refunded=False)
    assert kept == en.SENTENCES["timeout"]
    assert ENGLISH.text(codes.CANCELLED, None, refunded=True) == "Cancelled. Your credits were refunded."
    assert ENGLISH.text(codes.CANCELLED, None, refunded=False) == "Cancelled."


def test_languages_fall_back_to_english_code_by_code() -> None:
    assert PARTIAL.text("no_face", "ru") == "Лицо не найдено."
    assert PARTIAL.text("no_face", "ru-RU") == "Лицо не найдено."  # region tags reduce to the language
    # A variant the language lacks: its own plain sentence beats English's more specific one.
    assert PARTIAL.text("no_face", "ru", role="target") == "Лицо не найдено."
    assert PARTIAL.text("timeout", "ru") == en.SENTENCES["timeout"]  # not translated yet
    assert PARTIAL.text("no_face", "xx") == en.SENTENCES["no_face"]  # a language we do not have
    assert PARTIAL.text(codes.FAILED, "ru", reason="no_face", refunded=True) == (
        "Лицо не найдено. Кредиты возвращены."
    )


def test_an_unknown_code_gets_the_generic_sentence_of_the_language() -> None:
    assert ENGLISH.text("no_such_code") == en.SENTENCES["unknown_error"]
    assert PARTIAL.text("no_such_code", "ru") == "Что-то пошло не так."
    assert ENGLISH.text(codes.FAILED, None, reason="no_such_code") == en.SENTENCES["unknown_error"]
