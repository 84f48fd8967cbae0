"""Job ids: the same request is the same id however it was spelled; anything that changes the work or
the payer changes the id."""

from __future__ import annotations

from pathlib import Path

import pytest

from jobs.request import InputRef, JobRequest, SavedFaceRef, generation_id, job_id

TARGET = InputRef.telegram("AgAC-file-in-chat-1", "AQADunique-target")
SOURCE = InputRef.telegram("AgAC-file-src-1", "AQADunique-source")


def swap(**changes: object) -> JobRequest:
    fields: dict[str, object] = {"user_id": 7, "kind": "swap", "target": TARGET, "source": SOURCE}
    fields |= changes
    return JobRequest(**fields)  # type: ignore[arg-type]


def test_the_same_request_spelled_differently_is_one_id() -> None:
    base = job_id(swap())
    assert base.startswith("swap:") and len(base) == len("swap:") + 32
    assert job_id(swap(params={"source_face": 1})) == base  # the default, written out
    assert job_id(swap(params={"faces": [3, 1, 1]})) == job_id(swap(params={"faces": [1, 3]}))
    # The same photo forwarded to another chat has another file_id but the same file_unique_id.
    forwarded = InputRef.telegram("AgAC-a-different-file-id", "AQADunique-target")
    assert job_id(swap(target=forwarded)) == base
    assert job_id(swap(cost=5)) == base  # the price is not part of what the job does


@pytest.mark.parametrize(
    "changes",
    [
        {"user_id": 8},
        {"target": InputRef.telegram("x", "AQADanother-photo")},
        {"source": InputRef.telegram("AgAC-file-src-1", "AQADanother-source")},
        {"source": SavedFaceRef(12)},
        {"params": {"faces": [2]}},
        {"params": {"source_face": 2}},
        {"params": {"restorer": "gfpgan"}},
    ],
)
def test_anything_that_changes_the_work_or_the_payer_changes_the_id(changes: dict[str, object]) -> None:
    assert job_id(swap(**changes)) != job_id(swap())


def test_kinds_and_saved_faces() -> None:
    caricature = JobRequest(7, "caricature", TARGET)
    assert caricature.params == {"faces": None, "style": "both", "strength": 1.0}
    assert job_id(caricature).startswith("caricature:")
    assert job_id(JobRequest(7, "caricature", TARGET, params={"style": "warp"})) != job_id(caricature)
    assert swap(source=SavedFaceRef(12)).inputs_json() == {"target": TARGET.to_json(), "saved_face": 12}
    assert "source_face" not in swap(source=SavedFaceRef(12)).params  # meaningless for a saved face
    assert generation_id("swap:abc", 1) == "swap:abc" and generation_id("swap:abc", 3) == "swap:abc.3"


def test_local_files_are_identified_by_their_content(tmp_path: Path) -> None:
    one, two, other = tmp_path / "a.png", tmp_path / "b.png", tmp_path / "c.png"
    one.write_bytes(b"same bytes")
    two.write_bytes(b"same bytes")
    other.write_bytes(b"other bytes")
    assert InputRef.local(one).identity == InputRef.local(two).identity
    assert InputRef.local(one).identity != InputRef.local(other).identity
    assert InputRef.local(one).ref == str(one.resolve())


@pytest.mark.parametrize(
    ("kind", "source", "params", "message"),
    [
        ("swap", None, {}, "needs a source"),
        ("caricature", SOURCE, {}, "takes no source"),
        ("swap", SOURCE, {"faces": []}, "at least one face"),
        ("swap", SOURCE, {"faces": [0]}, "whole number from 1"),
        ("swap", SOURCE, {"faces": "1,2"}, "list of face numbers"),
        ("swap", SOURCE, {"restorer": "magic"}, "restorer must be"),
        ("swap", SOURCE, {"colour": "red"}, "unknown swap parameter"),
        ("caricature", None, {"strength": 9}, "strength must be"),
        ("caricature", None, {"style": "oil"}, "style must be"),
        ("enhance", None, {"blend": True}, "blend must be"),
        ("analyze", SOURCE, {}, "takes no source"),
        ("analyze", None, {"faces": [1]}, "unknown analyze parameter"),
        ("analyze", None, {}, "an analysis is free"),  # cost 1 given
    ],
)
def test_bad_requests_are_refused_before_anything_is_written(
    kind: str, source: InputRef | None, params: dict[str, object], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        JobRequest(7, kind, TARGET, source, params)


def test_a_reference_needs_a_known_kind_and_an_identity() -> None:
    with pytest.raises(ValueError):
        InputRef("ftp", "x", "y")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        InputRef("url", "https://cdn.example/x.png", "")
