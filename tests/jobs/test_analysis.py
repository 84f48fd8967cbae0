"""The engine part of an analysis (jobs/analysis, Operations): every model the worker embeds with, the
classic landmarker joining an engine without landmarks, and the face count on the delivered result."""

from __future__ import annotations

import numpy as np
import pytest

from db.models import JobKind
from engine.classic.backend import EMBEDDING_MODEL, ClassicEngine
from engine.face import Face, Identity, identity_from, match_by_box, reading_order
from engine.factory import EngineBundle, EngineSpec
from engine.imageio import decode_image
from jobs.analysis import analyse
from jobs.operations import Operations, Work
from jobs.request import InputRef, JobRequest, job_id
from tests.conftest import encode

KPS_MODEL = "test-keypoints"
DECOY_BOX = np.array([600, 700, 700, 800], np.float32)  # on t1.jpg: clothes, no face


class KeyPointEngine:
    """An engine without landmarks, as onnx is (SCRFD gives 5 key points): the classic detector's faces
    with taller boxes (SCRFD's reach the hairline, dlib's stop at the brows), key points only, and an
    embedding of its own model; plus a face the classic detector does not find (``DECOY_BOX``)."""

    name = "keypoints"
    embedding_model = KPS_MODEL
    gives_landmarks = False

    def __init__(self, classic: ClassicEngine) -> None:
        self.classic = classic

    def detect(self, image: np.ndarray, *, embed: bool = True) -> list[Face]:
        faces = []
        for found in self.classic.detect(image, embed=False):
            x1, y1, x2, y2 = found.box
            box = np.array([x1, y1 - 0.25 * (y2 - y1), x2, y2], np.float32)
            faces.append(Face(box, found.score, found.kps, None, own_vector(box), KPS_MODEL))
        x1, y1, x2, y2 = DECOY_BOX
        kps = np.array([[x1 + 30, y1 + 40], [x1 + 70, y1 + 40], [x1 + 50, y1 + 60], [x1 + 35, y1 + 80],
                        [x1 + 65, y1 + 80]], np.float32)  # fmt: skip
        faces.append(Face(DECOY_BOX, 0.5, kps, None, own_vector(DECOY_BOX), KPS_MODEL))
        return reading_order(faces)

    def identity(self, image: np.ndarray, face: Face) -> Identity:
        return identity_from(image, face)


def own_vector(box: np.ndarray) -> np.ndarray:
    """This engine's "embedding": made from the box, so each face's vector is its own."""
    return np.resize(box / 1000.0, 16).astype(np.float32)


@pytest.fixture(scope="module")
def classic() -> ClassicEngine:
    return ClassicEngine()


def test_an_engine_without_landmarks_is_joined_by_the_classic_landmarker(
    classic: ClassicEngine, group_photo: np.ndarray
) -> None:
    main = KeyPointEngine(classic)
    bundle = EngineBundle(EngineSpec(), engine=main)  # its landmarker: a classic engine built from the spec

    analysis = analyse(bundle.engine, bundle.landmarker, group_photo)

    boxes = [f.box for f in main.detect(group_photo)]
    assert [list(f.box) for f in analysis.faces] == [[float(v) for v in b] for b in boxes]
    reference = classic.detect(group_photo)
    found = [f for f in analysis.faces if f.box != [float(v) for v in DECOY_BOX]]
    decoy = [f for f in analysis.faces if f.box == [float(v) for v in DECOY_BOX]]
    assert len(found) == len(reference) == 6 and len(decoy) == 1
    for face, classic_face in zip(found, reference, strict=True):
        assert set(face.embeddings) == {EMBEDDING_MODEL, KPS_MODEL}
        np.testing.assert_array_equal(
            np.frombuffer(face.embeddings[KPS_MODEL], "<f4"), own_vector(np.array(face.box))
        )
        # Matched to the classic face at the same place, not a neighbour: the same dlib vector.
        np.testing.assert_allclose(
            np.frombuffer(face.embeddings[EMBEDDING_MODEL], "<f4"), classic_face.embedding, atol=1e-5
        )
        assert len(face.landmarks) == 68  # with the classic chip they belong to
        chip = decode_image(face.chip)
        expected = classic.identity(group_photo, classic_face).chip
        assert np.abs(chip.astype(int) - expected.astype(int)).mean() < 4  # JPEG's loss only
    (alone,) = decoy
    assert set(alone.embeddings) == {KPS_MODEL}  # no classic face there: its own model only
    assert len(alone.landmarks) == 5


def test_boxes_pair_with_their_best_overlap_and_never_with_a_stranger() -> None:
    def face(*box: float) -> Face:
        return Face(np.array(box, np.float32), 1.0, np.zeros((5, 2), np.float32))

    mine = [face(0, 0, 100, 130), face(90, 0, 190, 130), face(400, 0, 500, 130)]
    theirs = [face(95, 30, 185, 125), face(5, 30, 95, 125), face(700, 0, 800, 100)]
    assert match_by_box(mine, theirs) == [(0, 1), (1, 0)]


def test_an_analysis_run_carries_its_face_count_and_faces(
    classic: ClassicEngine, group_photo: np.ndarray
) -> None:
    output = Operations(EngineBundle(EngineSpec(), engine=classic)).run(
        Work(kind=JobKind.ANALYZE, params={}, target=encode(group_photo))
    )
    assert output.result.face_count == 6
    assert output.faces is not None and len(output.faces) == 6
    assert output.result.photo is not None
    assert decode_image(output.result.photo).shape == group_photo.shape


def test_an_analysis_request_is_free_and_takes_no_parameters() -> None:
    photo = InputRef("local", "/photos/group.jpg", "sha256:ab")
    request = JobRequest.analysis(7, photo)
    assert (request.kind, request.cost, request.params, request.source) == (JobKind.ANALYZE, 0, {}, None)
    assert job_id(request) == job_id(JobRequest.analysis(7, photo))  # the same photo twice: one job
    assert job_id(request) != job_id(JobRequest.analysis(8, photo))
    with pytest.raises(ValueError, match="free"):
        JobRequest(user_id=7, kind="analyze", target=photo, cost=1)
    with pytest.raises(ValueError, match="unknown analyze parameter"):
        JobRequest(user_id=7, kind="analyze", target=photo, cost=0, params={"faces": [1]})
