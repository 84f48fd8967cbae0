"""Build engines and restorers by name; heavy imports happen only for the backend asked for."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from engine.base import FaceEngine, FaceRestorer

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
        from engine.classic import ClassicEngine

        return ClassicEngine(detector=detector)
    if name == "onnx":
        from engine.onnx_engine import OnnxEngine

        return OnnxEngine(models_dir, providers)
    raise ValueError(f"unknown engine {name!r}; choose from {', '.join(ENGINES)}")


def build_restorer(
    name: str, *, models_dir: Path = Path("models"), providers: Sequence[str] = ("cuda", "cpu")
) -> FaceRestorer:
    from engine.restore import CodeFormerRestorer, GfpganRestorer

    if name == "gfpgan":
        return GfpganRestorer(models_dir, providers)
    if name == "codeformer":
        return CodeFormerRestorer(models_dir, providers)
    raise ValueError(f"unknown restorer {name!r}; choose from {', '.join(RESTORERS)}")
