"""Every list of allowed values the engine defines, spelled out once: engines, classic detectors,
onnxruntime providers, restorers and caricature styles. Settings, job parameters and the command line
import these; nothing else lists them.

Plain constants only (no numpy, no backends), so checking a setting or a job parameter loads nothing.
"""

from __future__ import annotations

from typing import Literal, get_args

EngineName = Literal["classic", "onnx"]
ENGINES: tuple[EngineName, ...] = get_args(EngineName)

Detector = Literal["hog", "cnn"]  # the classic engine's dlib face detector
DETECTORS: tuple[Detector, ...] = get_args(Detector)

# Short names people write (SWAPBOT_PROVIDERS=cuda,cpu) and the onnxruntime providers they mean.
PROVIDERS: dict[str, str] = {
    "tensorrt": "TensorrtExecutionProvider",
    "cuda": "CUDAExecutionProvider",
    "coreml": "CoreMLExecutionProvider",
    "cpu": "CPUExecutionProvider",
}
DEFAULT_PROVIDERS: tuple[str, ...] = ("cuda", "cpu")

RestorerName = Literal["gfpgan", "codeformer"]
RESTORERS: tuple[RestorerName, ...] = get_args(RestorerName)
DEFAULT_RESTORER: RestorerName = "gfpgan"
# The model file each restorer loads (engine/models/registry.py holds their URLs and hashes).
RESTORER_MODELS: dict[RestorerName, str] = {"gfpgan": "gfpgan_1.4", "codeformer": "codeformer"}

LocalStyle = Literal["warp", "cartoon", "both"]  # drawn on this machine (engine.caricature)
RemoteStyle = Literal["openai", "replicate"]  # drawn by a service (engine.stylize)
CaricatureStyle = Literal[LocalStyle, RemoteStyle]
LOCAL_STYLES: tuple[LocalStyle, ...] = get_args(LocalStyle)
REMOTE_STYLES: tuple[RemoteStyle, ...] = get_args(RemoteStyle)
CARICATURE_STYLES: tuple[CaricatureStyle, ...] = LOCAL_STYLES + REMOTE_STYLES


MAX_MIX = 3  # saved faces averaged into one swap identity ("/swap anna+bob", engine.mix)


def check_choice(what: str, value: object, allowed: tuple[str, ...]) -> None:
    """``ValueError`` naming the setting or parameter and what it may be, unless ``value`` is allowed."""
    if value not in allowed:
        raise ValueError(f"{what} must be one of {', '.join(allowed)}, not {value!r}")
