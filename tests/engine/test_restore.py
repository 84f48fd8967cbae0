"""GFPGAN / CodeFormer restoration with tiny stand-in models that apply known per-channel maps."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from engine.align import ffhq_matrix, transform_points
from engine.classic.backend import ClassicEngine
from engine.errors import ModelMissing
from engine.face import Face
from engine.onnx.restore import CodeFormerRestorer, GfpganRestorer, from_tensor, to_tensor
from tests.fakemodels.restore_models import codeformer_model, gfpgan_model

CPU = ("cpu",)


def crop_coordinates(shape: tuple[int, ...], face: Face) -> np.ndarray:
    """For every image pixel, where it lands in the face's 512x512 FFHQ crop (H x W x 2)."""
    ys, xs = np.mgrid[0 : shape[0], 0 : shape[1]]
    grid = np.stack([xs.ravel(), ys.ravel()], axis=1).astype(np.float32)
    return transform_points(grid, ffhq_matrix(face.kps)).reshape(shape[0], shape[1], 2)


def regions(shape: tuple[int, ...], face: Face) -> tuple[np.ndarray, np.ndarray]:
    """(inner, footprint): pixels well inside the crop, where the paste-back mask is 1, and pixels
    anywhere near it, the only ones restoration may change."""
    c = crop_coordinates(shape, face)
    return np.all((c >= 64) & (c <= 448), axis=2), np.all((c >= -2) & (c <= 514), axis=2)


def inner_region(shape: tuple[int, ...], face: Face) -> np.ndarray:
    return regions(shape, face)[0]


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """One models folder per stand-in: the file names are the real ones, the behaviours differ."""
    root = tmp_path_factory.mktemp("restore_models")
    made = {
        "identity": gfpgan_model(root / "identity" / "GFPGANv1.4.onnx"),
        # R kept, G inverted, B forced to -1: shows channel order and the [-1, 1] range at once.
        "channels": gfpgan_model(root / "channels" / "GFPGANv1.4.onnx", (1, -1, 0), (0, 0, -1)),
        "negative": gfpgan_model(root / "negative" / "GFPGANv1.4.onnx", (-1, -1, -1)),
        "half_negative": gfpgan_model(root / "half_negative" / "GFPGANv1.4.onnx", (-0.5, -0.5, -0.5)),
        "codeformer": codeformer_model(root / "codeformer" / "codeformer.onnx"),
        "codeformer_float": codeformer_model(
            root / "codeformer_float" / "codeformer.onnx", "w", weight_type=1, weight_shape=()
        ),
    }
    return {key: path.parent for key, path in made.items()}


def test_tensor_conventions_are_rgb_in_minus_one_to_one() -> None:
    crop = np.zeros((4, 4, 3), dtype=np.uint8)
    crop[..., 0], crop[..., 1], crop[..., 2] = 0, 51, 255  # B, G, R
    tensor = to_tensor(crop)
    assert tensor.shape == (1, 3, 4, 4) and tensor.dtype == np.float32
    np.testing.assert_allclose(tensor[0, :, 0, 0], [1.0, 51 / 127.5 - 1, -1.0], atol=1e-6)
    back = from_tensor(tensor[0])
    assert back.shape == (4, 4, 3)
    assert np.array_equal(np.rint(back).astype(np.uint8), crop)
    # Out-of-range network outputs saturate instead of wrapping around.
    np.testing.assert_array_equal(from_tensor(np.full((3, 1, 1), 3.0, np.float32)), [[[255.0] * 3]])


def test_identity_model_gives_the_face_back_in_place(
    models: dict[str, Path], astronaut: np.ndarray, astronaut_faces: list[Face]
) -> None:
    out = GfpganRestorer(models["identity"], CPU).restore(astronaut, astronaut_faces, blend=1.0)
    assert out.shape == astronaut.shape and out.dtype == np.uint8
    inner = inner_region(astronaut.shape, astronaut_faces[0])
    diff = np.abs(out.astype(int) - astronaut.astype(int))[inner]
    # Only the two bilinear resamplings separate them; a misplaced paste-back would differ by tens.
    assert diff.mean() < 4.0
    assert not np.array_equal(out, astronaut)  # it did go through the model and back


def test_channel_order_and_value_range_reach_the_model(
    models: dict[str, Path], astronaut: np.ndarray, astronaut_faces: list[Face]
) -> None:
    face = astronaut_faces[0]
    identity = GfpganRestorer(models["identity"], CPU).restore(astronaut, [face], blend=1.0).astype(int)
    out = GfpganRestorer(models["channels"], CPU).restore(astronaut, [face], blend=1.0).astype(int)
    inner = inner_region(astronaut.shape, face)
    assert inner.sum() > 2000
    b, g, r = (out[..., c][inner] for c in range(3))
    assert b.max() == 0  # the model's channel 2 (blue, in RGB order) was set to -1
    assert np.abs(g + identity[..., 1][inner] - 255).max() <= 1  # green inverted around the midpoint
    assert np.abs(r - identity[..., 2][inner]).max() <= 1  # red untouched


def test_blend_zero_returns_the_input_unchanged(
    models: dict[str, Path], astronaut: np.ndarray, astronaut_faces: list[Face]
) -> None:
    out = GfpganRestorer(models["negative"], CPU).restore(astronaut, astronaut_faces, blend=0.0)
    assert out is not astronaut
    assert np.array_equal(out, astronaut)


def test_blend_mixes_linearly(
    models: dict[str, Path], astronaut: np.ndarray, astronaut_faces: list[Face]
) -> None:
    face = astronaut_faces[0]
    restorer = GfpganRestorer(models["channels"], CPU)
    half = restorer.restore(astronaut, [face], blend=0.5).astype(int)
    inner = inner_region(astronaut.shape, face)
    # Blue of the restoration is 0, so half the blend halves the original blue.
    expected = astronaut[..., 0][inner].astype(float) * 0.5
    assert np.abs(half[..., 0][inner] - expected).max() <= 1.0
    with pytest.raises(ValueError):
        restorer.restore(astronaut, [face], blend=1.5)


def test_every_face_restored_and_nothing_outside_them_touched(
    models: dict[str, Path], group_photo: np.ndarray, group_faces: list[Face]
) -> None:
    out = GfpganRestorer(models["channels"], CPU).restore(group_photo, group_faces, blend=0.8)
    touched = np.zeros(group_photo.shape[:2], dtype=bool)
    for face in group_faces:
        inner, near = regions(group_photo.shape, face)
        # 80% of the way to a blue of 0: at most a fifth of the original blue is left.
        assert np.all(out[..., 0][inner] <= np.ceil(group_photo[..., 0][inner] * 0.2) + 1)
        touched |= near
    assert np.array_equal(out[~touched], group_photo[~touched])
    assert (~touched).sum() > 0.5 * touched.size


def test_face_running_off_the_image_is_clipped(
    models: dict[str, Path], engine: ClassicEngine, hanks: np.ndarray
) -> None:
    faces = engine.detect(hanks)  # a 112x112 picture: the 512 crop's footprint reaches far past its edges
    assert len(faces) == 1
    out = GfpganRestorer(models["identity"], CPU).restore(hanks, faces, blend=1.0)
    assert out.shape == hanks.shape
    assert np.abs(out.astype(int) - hanks.astype(int)).mean() < 4.0


def test_codeformer_passes_the_fidelity_weight(
    models: dict[str, Path], astronaut: np.ndarray, astronaut_faces: list[Face]
) -> None:
    # The stand-in computes (2 * weight - 1) * input, so each fidelity equals a known GFPGAN stand-in.
    def codeformer(fidelity: float, key: str = "codeformer") -> np.ndarray:
        return CodeFormerRestorer(models[key], CPU, fidelity=fidelity).restore(astronaut, astronaut_faces)

    def gfpgan(key: str) -> np.ndarray:
        return GfpganRestorer(models[key], CPU).restore(astronaut, astronaut_faces)

    assert np.array_equal(codeformer(1.0), gfpgan("identity"))
    assert np.array_equal(codeformer(0.0), gfpgan("negative"))
    assert np.array_equal(codeformer(0.25), gfpgan("half_negative"))
    assert not np.array_equal(codeformer(0.25), codeformer(0.75))
    # An export with another weight name, dtype and a scalar shape is fed just the same.
    assert np.array_equal(codeformer(0.25, "codeformer_float"), gfpgan("half_negative"))


def test_codeformer_defaults_and_rejects_bad_fidelity(models: dict[str, Path]) -> None:
    restorer = CodeFormerRestorer(models["codeformer"], CPU)
    assert restorer.fidelity == 0.7 and restorer.name == "codeformer"
    assert restorer.weight_input.name == "weight"
    with pytest.raises(ValueError):
        CodeFormerRestorer(models["codeformer"], CPU, fidelity=-0.1)


def test_missing_model_files_raise_model_missing(tmp_path: Path) -> None:
    with pytest.raises(ModelMissing) as gfpgan:
        GfpganRestorer(tmp_path, CPU)
    assert gfpgan.value.name == "gfpgan_1.4"
    assert gfpgan.value.path == str(tmp_path / "GFPGANv1.4.onnx")
    with pytest.raises(ModelMissing) as codeformer:
        CodeFormerRestorer(tmp_path, CPU)
    assert codeformer.value.name == "codeformer"
    assert codeformer.value.path.endswith("codeformer.onnx")
