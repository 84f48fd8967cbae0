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
