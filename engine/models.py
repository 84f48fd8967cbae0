"""The model files the engine can use: where they come from, their checksums and licences.

Nothing here downloads implicitly: ``require`` only looks in the models folder and raises
``ModelMissing`` naming the file and the fetch command.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from engine.errors import ModelMissing


@dataclass(frozen=True)
class ModelSpec:
    name: str
    filename: str
    url: str
    sha256: str
    size: int  # bytes
    licence: str
    purpose: str


MODELS: dict[str, ModelSpec] = {}


def register(spec: ModelSpec) -> None:
    MODELS[spec.name] = spec


def spec(name: str) -> ModelSpec:
    try:
        return MODELS[name]
    except KeyError:
        raise KeyError(f"unknown model {name!r}; known: {', '.join(sorted(MODELS))}") from None


def require(models_dir: Path, name: str) -> Path:
    """The path of model ``name`` in ``models_dir``; ``ModelMissing`` if the file is not there."""
    path = Path(models_dir) / spec(name).filename
    if not path.is_file():
        raise ModelMissing(name, str(path))
    return path


_INSIGHTFACE_LICENCE = "insightface models: non-commercial research use only"
_FF = "https://github.com/facefusion/facefusion-assets/releases/download/models-3.0.0/"

for _spec in (
    ModelSpec("det_10g", "det_10g.onnx", _FF + "scrfd_2.5g.onnx", "", 0, _INSIGHTFACE_LICENCE,
              "SCRFD face detector (5 key points)"),
    ModelSpec("w600k_r50", "w600k_r50.onnx", _FF + "arcface_w600k_r50.onnx", "", 0, _INSIGHTFACE_LICENCE,
              "ArcFace identity embedding (512-d)"),
    ModelSpec("inswapper_128", "inswapper_128.onnx", _FF + "inswapper_128.onnx", "", 0,
              _INSIGHTFACE_LICENCE, "face swapper (128x128)"),
    ModelSpec("gfpgan_1.4", "GFPGANv1.4.onnx", _FF + "gfpgan_1.4.onnx", "", 0, "Apache-2.0 (GFPGAN)",
              "face restoration (512x512)"),
    ModelSpec("codeformer", "codeformer.onnx", _FF + "codeformer.onnx", "", 0,
              "S-Lab License 1.0: non-commercial", "face restoration with fidelity weight (512x512)"),
):
    register(_spec)
