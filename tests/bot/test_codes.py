"""Every code engine/ and jobs/ can raise or store has an English sentence, whose fields are params the
raise sites supply; real raised errors render without a placeholder.

The codes are read from the source, so a new ``raise JobFailure("new_code", ...)`` fails here until
bot/texts/en.py says it in words.
"""

from __future__ import annotations

import ast
import asyncio
from collections import defaultdict
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

import numpy as np

from bot.texts import Catalogue, en, fields
from engine.errors import EngineError
from jobs.errors import PERMANENT_DB_CODES, JobFailure, classify

ROOT = Path(__file__).resolve().parents[2]
ENGLISH = Catalogue()


class RaiseSites:
    """What an ``ast`` walk of the source finds: each code, and the param names supplied with it."""

    def __init__(self, files: list[Path]) -> None:
        trees = [ast.parse(path.read_text(), str(path)) for path in files]
        classes = {
            node.name: node for tree in trees for node in ast.walk(tree) if isinstance(node, ast.ClassDef)
        }
        # Classes whose first argument is the code: ImageRejected(reason, ...), JobFailure(code, ...).
        code_first = {name for name, node in classes.items() if _first_param(node) in {"code", "reason"}}
        self.params: dict[str, set[str]] = defaultdict(set)
        for tree in trees:
            constants = _module_constants(tree)
            for node in ast.walk(tree):
                if isinstance(node, ast.ClassDef) and (code := _class_code(node)):
                    self.params[code] |= _supplied(node, classes)
                elif isinstance(node, ast.Call):
                    name = _called_name(node.func)
                    if name in code_first and node.args and _string(node.args[0]):
                        self.params[_string(node.args[0])] |= _keywords(node)
                    for keyword in node.keywords:  # db_jobs.fail(code=WORKER_LOST), text(reason=...)
                        if keyword.arg in {"code", "reason"}:
                            value = _string(keyword.value) or constants.get(_called_name(keyword.value))
                            if value:
                                self.params.setdefault(value, set())

    @property
    def codes(self) -> set[str]:
        return set(self.params)


def _first_param(node: ast.ClassDef) -> str | None:
    for item in node.body:
        if isinstance(item, ast.FunctionDef) and item.name == "__init__":
            args = [*item.args.posonlyargs, *item.args.args][1:]
            return args[0].arg if args else None
    return None


def _class_code(node: ast.ClassDef) -> str | None:
    for item in node.body:
        if isinstance(item, ast.Assign) and [_called_name(t) for t in item.targets] == ["code"]:
            return _string(item.value)
    return None


def _supplied(node: ast.ClassDef, classes: Mapping[str, ast.ClassDef]) -> set[str]:
    """The params a class passes up in its ``__init__`` calls, and those its base classes pass."""
    names: set[str] = set()
    for call in ast.walk(node):
        if isinstance(call, ast.Call) and _called_name(call.func) == "__init__":
            names |= _keywords(call)
    for base in node.bases:
        if (base_name := _called_name(base)) in classes:
            names |= _supplied(classes[base_name], classes)
    return names


def _keywords(call: ast.Call) -> set[str]:
    """Keyword params of a raise, and the keys of a literal ``params={...}``."""
    names = {k.arg for k in call.keywords if k.arg not in {None, "params", "transient", "retry_after"}}
    for keyword in call.keywords:
        if keyword.arg == "params" and isinstance(keyword.value, ast.Dict):
            names |= {key for key in map(_string, keyword.value.keys) if key}
    return {name for name in names if name}


def _module_constants(tree: ast.Module) -> dict[str, str]:
    return {
        target.id: value
        for node in tree.body
        if isinstance(node, ast.Assign) and (value := _string(node.value))
        for target in node.targets
        if isinstance(target, ast.Name)
    }


def _called_name(node: ast.expr | None) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return None


def _string(node: ast.expr | None) -> str | None:
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


def _source(*folders: str) -> list[Path]:
    return sorted(path for folder in folders for path in (ROOT / folder).rglob("*.py"))


def _variants(code: str, sentences: Mapping[str, str], codes: set[str]) -> Iterator[str]:
    """The sentences the catalogue may read for ``code``: the plain one and its ``code_...`` variants
    (a key that is a code of its own is not a variant)."""
    return (key for key in sentences if key == code or (key.startswith(f"{code}_") and key not in codes))


def missing_sentences(codes: set[str], sentences: Mapping[str, str]) -> set[str]:
    return {code for code in codes if code not in sentences}


def unsupplied_fields(sites: RaiseSites, sentences: Mapping[str, str]) -> dict[str, set[str]]:
    """Per sentence key, the fields no raise site of its code supplies."""
    unsupplied = {}
    for code, supplied in sites.params.items():
        for key in _variants(code, sentences, sites.codes):
            if extra := set(fields(sentences[key])) - supplied:
                unsupplied[key] = extra
    return unsupplied


SITES = RaiseSites(_source("engine", "jobs"))
RAISABLE = SITES.codes | PERMANENT_DB_CODES


def test_the_walk_finds_the_codes_of_every_kind_of_raise_site() -> None:
    # class attributes, ImageRejected("..."), JobFailure("..."), subclasses, and stored codes
    assert {
        "no_face",
        "bad_face_index",
        "model_missing",
        "bundled_model_missing",
        "stylizer_error",
        "landmarks_required",
        "empty",
        "truncated",
        "too_small",
        "file_too_large",
        "input_unavailable",
        "undelivered",
        "no_telegram",
        "unsupported_kind",
        "timeout",
        "internal_error",
        "worker_lost",
    } <= RAISABLE
    assert {"width", "height", "min_side"} <= SITES.params["too_small"]
    assert {"size", "max_bytes"} <= SITES.params["file_too_large"]
    assert {"name", "path", "package"} <= SITES.params["bundled_model_missing"]  # inherited and its own
    assert SITES.params["no_notifier"] == {"platform"}


def test_every_raisable_code_has_an_english_sentence() -> None:
    assert missing_sentences(RAISABLE, en.SENTENCES) == set()


def test_every_sentence_uses_only_params_its_raise_sites_supply() -> None:
    assert unsupplied_fields(SITES, en.SENTENCES) == {}


def test_the_checks_fail_on_a_gap() -> None:
    without = {key: text for key, text in en.SENTENCES.items() if key != "too_small"}
    assert missing_sentences(RAISABLE, without) == {"too_small"}
    wrong = {**en.SENTENCES, "too_small": "Too small: {width} by {depth}."}
    assert unsupplied_fields(SITES, wrong) == {"too_small": {"depth"}}


def _raised(action: Callable[[], object]) -> BaseException:
    try:
        action()
    except BaseException as exc:
        return exc
    raise AssertionError(f"{action} raised nothing")


def _real_errors(tmp_path: Path) -> list[BaseException]:
    import cv2

    from engine.caricature.warp import exaggerate
    from engine.face import Face, select_faces
    from engine.imageio import decode_image
    from engine.models.fetch import fetch
    from engine.models.registry import ModelSpec, require
    from engine.stylize.base import Deadline, RetryPolicy, call_with_retries
    from jobs.fetch import InputFetcher
    from jobs.request import InputRef

    png = cv2.imencode(".png", np.full((64, 64, 3), 128, np.uint8))[1].tobytes()
    tiny = cv2.imencode(".png", np.zeros((8, 8, 3), np.uint8))[1].tobytes()
    face = Face(box=np.array([0, 0, 10, 10], np.float32), score=1.0, kps=np.zeros((5, 2), np.float32))
    big = tmp_path / "big.jpg"
    big.write_bytes(bytes(1_500_000))
    fetcher = InputFetcher(max_bytes=1_000_000)
    orphan = ModelSpec("orphan", "x.dat", "", "0" * 64, 1, "t", "t", package="no_such_pkg")
    return [
        _raised(lambda: decode_image(b"")),
        _raised(lambda: decode_image(b"plain words, no picture at all")),
        _raised(lambda: decode_image(b"%PDF-1.7 a document")),
        _raised(lambda: decode_image(b"GIF89a" + bytes(40))),
        _raised(lambda: decode_image(png[:60])),
        _raised(lambda: decode_image(tiny)),
        _raised(lambda: select_faces([face], [9])),
        _raised(lambda: select_faces([], None)),
        _raised(lambda: exaggerate(np.zeros((100, 100, 3), np.uint8), [face], 1.0)),
        _raised(lambda: require(tmp_path, "inswapper_128")),
        _raised(lambda: fetch(orphan, tmp_path)),
        _raised(
            lambda: call_with_retries(
                lambda _: None, service="openai", what="an edit", policy=RetryPolicy(), deadline=Deadline(0)
            )
        ),
        _raised(lambda: asyncio.run(fetcher.fetch(InputRef("local", str(big), "big")))),
        classify(TimeoutError()),
        classify(RuntimeError("a bug")),
    ]


def test_real_raised_errors_render_with_every_param(tmp_path: Path) -> None:
    errors = _real_errors(tmp_path)
    seen = set()
    for exc in errors:
        assert isinstance(exc, (EngineError, JobFailure)), repr(exc)
        text = ENGLISH.text(exc.code, None, **exc.params)
        seen.add(exc.code)
        assert "?" not in text and "None" not in text, (exc.code, exc.params, text)
        assert text != en.SENTENCES["unknown_error"], exc.code
        for value in exc.params.values():
            if isinstance(value, int) and not isinstance(value, bool) and value < 100_000:
                assert str(value) in text, (exc.code, exc.params, text)
    assert {"empty", "not_an_image", "too_small", "bad_face_index", "no_face", "model_missing"} <= seen
    assert {"file_too_large", "bundled_model_missing", "stylizer_error", "timeout", "internal_error"} <= seen
