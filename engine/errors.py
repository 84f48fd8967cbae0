"""Typed engine errors: adapters turn each into a clear chat reply by its ``code``."""

from __future__ import annotations


class EngineError(Exception):
    """Base class: ``code`` is stable (stored on jobs, mapped to texts); ``permanent``: retrying is futile."""

    code = "engine_error"
    permanent = True


class ImageRejected(EngineError):
    """The bytes are not an image we accept; ``reason`` is a short machine code, ``detail`` human words."""

    code = "image_rejected"

    def __init__(self, reason: str, detail: str = "") -> None:
        self.reason = reason
        self.detail = detail or reason.replace("_", " ")
        super().__init__(f"image rejected: {self.detail}")


class NoFaceFound(EngineError):
    code = "no_face"

    def __init__(self, detail: str = "no face found in the image") -> None:
        super().__init__(detail)


class FaceIndexError(EngineError):
    """The person asked for a face number the picture does not have."""

    code = "bad_face_index"


class ModelMissing(EngineError):
    code = "model_missing"

    def __init__(self, name: str, path: str) -> None:
        self.name = name
        self.path = path
        super().__init__(
            f"model file missing: {path} (model '{name}'); run `swapbot models fetch {name}` "
            "on a machine with internet, or copy the file there"
        )


class StylizerError(EngineError):
    """A remote stylizer failed. ``permanent`` is False for timeouts, 429 and 5xx after retries."""

    code = "stylizer_error"

    def __init__(self, detail: str, *, permanent: bool) -> None:
        self.permanent = permanent
        super().__init__(detail)
