"""The onnx backend on tiny stand-in models, against insightface's own SCRFD, ArcFaceONNX and INSwapper."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from engine.align import arcface_matrix
from engine.errors import ModelMissing, NoFaceFound
from engine.face import IDENTITY_CHIP_SIZE, Face, Identity
from engine.models.registry import spec
from engine.onnx.backend import EMBEDDING_MODEL, OnnxEngine
from engine.onnx.inswapper import read_emap, source_latent
from engine.onnx.runtime import get_session, resolve_providers
from engine.onnx.scrfd import ScrfdDetector
from tests.fakemodels.swap_models import (
    ASTRONAUT_KPS,
    T1_KPS,
    write_detector,
    write_embedder,
    write_swap_models,
)

pytestmark = pytest.mark.filterwarnings("ignore:`estimate` is deprecated:FutureWarning")


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_swap_models(tmp_path_factory.mktemp("models"))


@pytest.fixture(scope="module")
def engine(models: Path) -> OnnxEngine:
    return OnnxEngine(models, ["cpu"])


def _cells(*cells: tuple[int, int]) -> np.ndarray:
    """A 1280x960 grey picture (letterboxed at scale 1/2) with saturated blue 64 px cells at (col, row):
    each is one stride-32 cell of the detector input, so the stand-in finds exactly one face there."""
    image = np.full((960, 1280, 3), 90, np.uint8)
    for col, row in cells:
        image[row * 64 : (row + 1) * 64, col * 64 : (col + 1) * 64] = (255, 0, 0)
    return image


def _target(kps: np.ndarray) -> Face:
    kps = np.asarray(kps, np.float32)
    return Face(box=np.r_[kps.min(axis=0), kps.max(axis=0)], score=1.0, kps=kps)


# --- SCRFD --------------------------------------------------------------------------------------


@pytest.mark.parametrize("batched", [False, True], ids=["rank2", "batched"])
@pytest.mark.parametrize("photo", ["astronaut", "group_photo", "cells"])
def test_scrfd_matches_insightface(
    tmp_path: Path, request: pytest.FixtureRequest, photo: str, batched: bool
) -> None:
    from insightface.model_zoo.scrfd import SCRFD

    image = _cells((3, 2), (15, 8), (4, 12)) if photo == "cells" else request.getfixturevalue(photo)
    path = write_detector(tmp_path, batched=batched)
    found = ScrfdDetector(get_session(path, ["cpu"])).detect(image)
    boxes, kps = SCRFD(model_file=str(path)).detect(image, input_size=(640, 640))
    assert len(found) == len(boxes) > 0
    np.testing.assert_allclose(found.boxes, boxes[:, :4], atol=1e-3)
    np.testing.assert_allclose(found.scores, boxes[:, 4], atol=1e-6)
    np.testing.assert_allclose(found.kps, kps, atol=1e-3)


def test_detect_places_faces_in_reading_order(engine: OnnxEngine) -> None:
    cells = [(15, 8), (3, 2), (9, 2)]  # given out of order: two on the top row, one below
    faces = engine.detect(_cells(*cells))
    assert len(faces) == 3
    expected_centres = [(3.5 * 64, 2.5 * 64), (9.5 * 64, 2.5 * 64), (15.5 * 64, 8.5 * 64)]
    for face, (cx, cy) in zip(faces, expected_centres, strict=True):
        assert abs(face.center[0] - cx) < 20 and abs(face.center[1] - cy) < 20
        x1, y1, x2, y2 = face.box
        assert 120 < x2 - x1 < 250  # about three strides of 32 at scale 1/2
        assert ((face.kps >= [x1, y1]) & (face.kps <= [x2, y2])).all()
        assert face.score > 0.9
        assert face.embedding_model == EMBEDDING_MODEL
        assert face.embedding.shape == (512,)
        assert abs(np.linalg.norm(face.embedding) - 1) < 1e-5


def test_detect_finds_nothing_on_a_plain_picture(engine: OnnxEngine) -> None:
    assert engine.detect(np.full((480, 640, 3), 90, np.uint8)) == []


# --- ArcFace ------------------------------------------------------------------------------------


def test_arcface_matches_insightface(engine: OnnxEngine, models: Path, astronaut, group_photo) -> None:
    from insightface.app.common import Face as InsightFace
    from insightface.model_zoo.arcface_onnx import ArcFaceONNX

    path = models / spec("w600k_r50").filename
    reference = ArcFaceONNX(model_file=str(path), session=get_session(path, ["cpu"]))
    cases = [(astronaut, ASTRONAUT_KPS), *((group_photo, kps) for kps in T1_KPS[:3])]
    ours = [engine.embedder.embed(image, kps) for image, kps in cases]
    for vector, (image, kps) in zip(ours, cases, strict=True):
        raw = reference.get(image, InsightFace(kps=np.asarray(kps, np.float32)))
        np.testing.assert_allclose(vector, raw / np.linalg.norm(raw), atol=2e-4)
        assert abs(np.linalg.norm(vector) - 1) < 1e-5
    assert float(ours[1] @ ours[2]) < 0.999  # different faces, different vectors


def test_alignment_is_bit_identical_to_insightface() -> None:
    from insightface.utils import face_align

    for kps in (ASTRONAUT_KPS, *T1_KPS):
        for size in (112, 128):
            np.testing.assert_array_equal(
                arcface_matrix(kps.astype(np.float32), size),
                face_align.estimate_norm(kps.astype(np.float32), size),
            )


# --- inswapper: emap, latent, swap --------------------------------------------------------------


def test_emap_is_the_last_initializer(models: Path) -> None:
    path = models / spec("inswapper_128").filename
    emap = read_emap(path)
    assert emap.shape == (512, 512) and emap.dtype == np.float32
    np.testing.assert_array_equal(emap, numpy_helper.to_array(onnx.load(str(path)).graph.initializer[-1]))


def test_emap_is_found_by_position_not_name(tmp_path: Path) -> None:
    last = np.arange(6, dtype=np.float32).reshape(2, 3)
    graph = helper.make_graph(
        [helper.make_node("Identity", ["x"], ["y"])],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])],
        initializer=[
            numpy_helper.from_array(np.ones(4, np.float32), "emap"),
            numpy_helper.from_array(last, "w"),
        ],
    )
    onnx.save(helper.make_model(graph), str(tmp_path / "m.onnx"))
    np.testing.assert_array_equal(read_emap(tmp_path / "m.onnx"), last)


def test_latent_is_insightfaces(models: Path) -> None:
    emap = read_emap(models / spec("inswapper_128").filename)
    embedding = np.random.default_rng(5).normal(size=512).astype(np.float32) * 7  # not unit length
    expected = np.dot((embedding / np.linalg.norm(embedding)).reshape(1, -1), emap)
    expected /= np.linalg.norm(expected)
    latent = source_latent(embedding, emap)
    assert latent.shape == (1, 512) and latent.dtype == np.float32
    np.testing.assert_allclose(latent, expected, atol=1e-6)
    assert np.abs(latent - embedding / np.linalg.norm(embedding)).max() > 0.01  # the emap did something


def test_swap_matches_insightface(engine: OnnxEngine, models: Path, group_photo: np.ndarray) -> None:
    """The engine's whole swap (alignment, model, paste-back) against ``INSwapper.get`` face after face."""
    from insightface.app.common import Face as InsightFace
    from insightface.model_zoo.inswapper import INSwapper

    path = models / spec("inswapper_128").filename
    reference = INSwapper(model_file=str(path), session=get_session(path, ["cpu"]))
    source = engine.identity(group_photo, _target(T1_KPS[2]))
    targets = [_target(kps) for kps in T1_KPS[[0, 4, 5]]]

    ours = engine.swap(group_photo, targets, source)

    theirs = group_photo
    for face in targets:
        theirs = reference.get(
            theirs,
            InsightFace(kps=face.kps),  # float32, as insightface's detector gives them
            InsightFace(embedding=source.embeddings[EMBEDDING_MODEL]),
            paste_back=True,
        )
    assert np.abs(ours.astype(int) - theirs.astype(int)).max() <= 1
    assert np.abs(ours.astype(int) - group_photo.astype(int)).mean() > 0.5


# --- identities ---------------------------------------------------------------------------------


def test_identity_keeps_the_detected_embedding(engine: OnnxEngine) -> None:
    image = _cells((5, 5))
    (face,) = engine.detect(image)
    identity = engine.identity(image, face)
    assert identity.embeddings[EMBEDDING_MODEL] is face.embedding
    assert identity.chip.shape == (IDENTITY_CHIP_SIZE, IDENTITY_CHIP_SIZE, 3)


def test_identity_never_reuses_another_models_vector(engine: OnnxEngine, astronaut: np.ndarray) -> None:
    dlib_vector = np.random.default_rng(1).normal(size=128).astype(np.float32)
    face = _target(ASTRONAUT_KPS)
    face.embedding, face.embedding_model = dlib_vector, "dlib_resnet_v1"
    identity = engine.identity(astronaut, face)
    np.testing.assert_allclose(
        identity.embeddings[EMBEDDING_MODEL], engine.embedder.embed(astronaut, face.kps)
    )
    assert identity.embeddings["dlib_resnet_v1"] is dlib_vector


def test_swap_computes_a_missing_embedding_from_the_chip(engine: OnnxEngine, astronaut, group_photo) -> None:
    with_ours = engine.identity(astronaut, _target(ASTRONAUT_KPS))
    rng = np.random.default_rng(2)
    foreign = {
        "dlib_resnet_v1": rng.normal(size=128).astype(np.float32),
        "other_512": rng.normal(size=512).astype(np.float32),
    }
    lacking = Identity(chip=with_ours.chip, kps=with_ours.kps, embeddings=foreign)
    from_chip = Identity(
        chip=with_ours.chip,
        kps=with_ours.kps,
        embeddings={EMBEDDING_MODEL: engine.embedder.embed(with_ours.chip, with_ours.kps)},
    )
    wrong = Identity(
        chip=with_ours.chip, kps=with_ours.kps, embeddings={EMBEDDING_MODEL: foreign["other_512"]}
    )
    targets = [_target(T1_KPS[3])]

    result = engine.swap(group_photo, targets, lacking)

    assert np.array_equal(result, engine.swap(group_photo, targets, from_chip))
    assert not np.array_equal(result, engine.swap(group_photo, targets, wrong))
    # the chip's embedding is the same person's as the photo's, up to resampling
    assert float(from_chip.embeddings[EMBEDDING_MODEL] @ with_ours.embeddings[EMBEDDING_MODEL]) > 0.95


def test_swap_leaves_pixels_away_from_the_faces(engine: OnnxEngine, astronaut, group_photo) -> None:
    source = engine.identity(astronaut, _target(ASTRONAUT_KPS))
    result = engine.swap(group_photo, [_target(T1_KPS[5])], source)
    assert result is not group_photo
    assert np.array_equal(result[:, :900], group_photo[:, :900])  # the face is at x 1150..1200
    assert not np.array_equal(result, group_photo)
    with pytest.raises(NoFaceFound):
        engine.swap(group_photo, [], source)


# --- providers, missing files, sessions --------------------------------------------------------


def test_provider_selection() -> None:
    gpu_box = ["TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"]
    assert resolve_providers(["cuda", "cpu"], gpu_box) == ["CUDAExecutionProvider", "CPUExecutionProvider"]
    assert resolve_providers(["TensorRT", "cuda"], gpu_box) == [
        "TensorrtExecutionProvider",
        "CUDAExecutionProvider",
        "CPUExecutionProvider",
    ]
    assert resolve_providers(["cuda", "cpu"], ["CPUExecutionProvider"]) == ["CPUExecutionProvider"]
    with pytest.raises(ValueError, match="tpu"):
        resolve_providers(["tpu"], gpu_box)


def test_unknown_provider_is_rejected_at_construction(models: Path) -> None:
    with pytest.raises(ValueError, match="quantum"):
        OnnxEngine(models, ["quantum", "cpu"])


def test_missing_model_files_are_named(tmp_path: Path, astronaut: np.ndarray) -> None:
    with pytest.raises(ModelMissing) as missing:
        OnnxEngine(tmp_path, ["cpu"]).detect(astronaut)
    assert missing.value.path == str(tmp_path / "det_10g.onnx")
    assert "det_10g.onnx" in str(missing.value)

    write_detector(tmp_path)
    write_embedder(tmp_path)
    engine = OnnxEngine(tmp_path, ["cpu"])
    faces = engine.detect(_cells((2, 2)))
    assert len(faces) == 1  # detection works without the swapper
    with pytest.raises(ModelMissing) as missing:
        engine.swap(astronaut, faces, engine.identity(astronaut, _target(ASTRONAUT_KPS)))
    assert missing.value.path == str(tmp_path / "inswapper_128.onnx")
    assert missing.value.name == "inswapper_128"


def test_sessions_are_created_once_and_shared(models: Path, tmp_path: Path) -> None:
    first, second = OnnxEngine(models, ["cpu"]), OnnxEngine(models, ("cpu",))
    image = _cells((4, 4))
    first.detect(image)
    session = first.detector.session
    first.detect(image)
    assert first.detector.session is session
    assert second.detector.session is session
    assert second.embedder.session is first.embedder.session
    assert second.swapper.session is first.swapper.session
    path = models / spec("det_10g").filename
    assert get_session(path, ["cpu"]) is session
    other = write_detector(tmp_path)  # another file: another session
    assert get_session(other, ["cpu"]) is not session


def test_detect_without_embeddings_skips_only_the_embeddings(engine: OnnxEngine) -> None:
    image = _cells((3, 2), (9, 2))
    full, bare = engine.detect(image), engine.detect(image, embed=False)
    assert [(f.embedding, f.embedding_model) for f in bare] == [(None, None)] * 2
    for plain, embedded in zip(bare, full, strict=True):
        np.testing.assert_array_equal(plain.kps, embedded.kps)
    identity = engine.identity(image, bare[0])  # computes the one embedding it needs
    np.testing.assert_allclose(identity.embeddings[EMBEDDING_MODEL], full[0].embedding, atol=1e-6)
