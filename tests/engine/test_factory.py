"""The engine spec and the bundle built from it: checked values, lazy and shared builds, the
landmarker caricatures need, restorers by name, stylizers by style."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from engine.classic.backend import ClassicEngine
from engine.errors import ModelMissing, StylizerUnavailable
from engine.factory import EngineBundle, EngineSpec, StylizerSpec
from engine.onnx.backend import OnnxEngine
from engine.onnx.restore import GfpganRestorer
from tests.fakemodels.restore_models import gfpgan_model
from tests.jobs.squares import SquareEngine


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"name": "dlib"}, "dlib"),
        ({"detector": "yolo"}, "yolo"),
        ({"providers": ("cuda", "quantum")}, "quantum"),
    ],
)
def test_a_spec_refuses_values_the_engine_does_not_have(change: dict[str, object], named: str) -> None:
    with pytest.raises(ValueError, match=named):
        EngineSpec(**change)  # type: ignore[arg-type]


def test_a_spec_keeps_providers_as_a_tuple() -> None:
    spec = EngineSpec(providers=["cpu"])  # type: ignore[arg-type]  # what settings hand over
    assert spec.providers == ("cpu",)
    assert hash(spec) == hash(EngineSpec(providers=("cpu",)))


def test_an_engine_with_landmarks_is_its_own_landmarker(engine: ClassicEngine) -> None:
    bundle = EngineBundle(EngineSpec(), engine)
    assert bundle.engine is engine
    assert bundle.landmarker() is engine


def test_an_engine_without_landmarks_gets_a_classic_landmarker_with_the_spec_detector() -> None:
    squares = SquareEngine()
    bundle = EngineBundle(EngineSpec(detector="cnn"), squares)
    with ThreadPoolExecutor(4) as pool:  # engine threads asking at once share one build
        built = list(pool.map(lambda _: bundle.landmarker(), range(4)))
    assert isinstance(built[0], ClassicEngine) and built[0].gives_landmarks
    assert built[0].detector == "cnn"  # SWAPBOT_DETECTOR reaches the landmarker
    assert all(b is built[0] for b in built)
    assert bundle.engine is squares


def test_the_engine_is_built_on_first_use(tmp_path: Path) -> None:
    bundle = EngineBundle(EngineSpec(name="onnx", models_dir=tmp_path, providers=("cpu",)))
    engine = bundle.engine  # no model file is needed to build it: each loads on first use
    assert isinstance(engine, OnnxEngine) and engine.models_dir == tmp_path
    assert bundle.engine is engine
    assert not engine.gives_landmarks


def test_a_restorer_whose_model_is_missing_fails_until_the_file_is_there(tmp_path: Path) -> None:
    bundle = EngineBundle(EngineSpec(models_dir=tmp_path, providers=("cpu",)), SquareEngine())
    with pytest.raises(ModelMissing, match="gfpgan"):
        bundle.restorer("gfpgan")
    gfpgan_model(tmp_path / "GFPGANv1.4.onnx")
    restorer = bundle.restorer("gfpgan")  # the failure was not kept
    assert isinstance(restorer, GfpganRestorer)
    assert bundle.restorer("gfpgan") is restorer
    with pytest.raises(ValueError, match="gfpgan, codeformer"):
        bundle.restorer("sharpen")


def test_stylizers_by_style() -> None:
    bare = EngineBundle(EngineSpec(), SquareEngine())
    assert bare.stylizer("warp") is None  # drawn here, no service
    with pytest.raises(StylizerUnavailable, match="OPENAI_API_KEY") as unavailable:
        bare.stylizer("openai")
    assert (unavailable.value.code, unavailable.value.params) == ("stylizer_unavailable", {"style": "openai"})
    with pytest.raises(ValueError, match="warp, cartoon, both, openai, replicate"):
        bare.stylizer("watercolour")

    keyed = EngineBundle(EngineSpec(stylizers=StylizerSpec(openai_api_key="sk-test")), SquareEngine())
    openai = keyed.stylizer("openai")
    assert openai is not None and openai.name == "openai"
    assert keyed.stylizer("openai") is openai
    with pytest.raises(StylizerUnavailable, match="REPLICATE_MODEL"):
        keyed.stylizer("replicate")
