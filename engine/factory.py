"""Build engines and restorers by name; heavy imports happen only for the backend asked for."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from engine.base import FaceEngine, FaceRestorer
from engine.stylize.base import Stylizer

ENGINES = ("classic", "onnx")
RESTORERS = ("gfpgan", "codeformer")


def build_engine(
    name: str,
    *,
    models_dir: Path = Path("models"),
    providers: Sequence[str] = ("cuda", "cpu"),
    detector: str = "hog",
) -> FaceEngine:
    if name == "classic":
        from engine.classic.backend import ClassicEngine

        return ClassicEngine(detector=detector)
    if name == "onnx":
        from engine.onnx.backend import OnnxEngine

        return OnnxEngine(models_dir, providers)
    raise ValueError(f"unknown engine {name!r}; choose from {', '.join(ENGINES)}")


def build_restorer(
    name: str, *, models_dir: Path = Path("models"), providers: Sequence[str] = ("cuda", "cpu")
) -> FaceRestorer:
    from engine.onnx.restore import CodeFormerRestorer, GfpganRestorer

    if name == "gfpgan":
        return GfpganRestorer(models_dir, providers)
    if name == "codeformer":
        return CodeFormerRestorer(models_dir, providers)
    raise ValueError(f"unknown restorer {name!r}; choose from {', '.join(RESTORERS)}")


def build_stylizer(
    style: str,
    *,
    openai_api_key: str | None = None,
    openai_base_url: str | None = None,
    openai_model: str | None = None,
    replicate_api_token: str | None = None,
    replicate_base_url: str | None = None,
    replicate_model: str | None = None,
    timeout: float = 120.0,
) -> Stylizer | None:
    """The remote stylizer a caricature ``style`` needs; None for the local styles."""
    if style == "openai":
        if not openai_api_key:
            raise ValueError("the openai style needs OPENAI_API_KEY")
        from engine.stylize.openai_images import OpenAIStylizer

        extra = {"model": openai_model} if openai_model else {}
        return OpenAIStylizer(api_key=openai_api_key, base_url=openai_base_url, timeout=timeout, **extra)
    if style == "replicate":
        if not (replicate_api_token and replicate_model):
            raise ValueError("the replicate style needs REPLICATE_API_TOKEN and REPLICATE_MODEL")
        from engine.stylize.replicate_model import ReplicateStylizer

        return ReplicateStylizer(
            api_token=replicate_api_token, model=replicate_model, base_url=replicate_base_url, timeout=timeout
        )
    return None
