"""Typed engine errors. Each carries a stable ``code`` and plain ``params`` (numbers, short strings);
the bot's catalogue (``bot/texts``) turns them into a sentence in the user's language. ``str(exc)`` is
an English line for logs and developers, never shown to a chat user as it is."""

from __future__ import annotations

from typing import Any


class EngineError(Exception):
    """Base class. ``code`` is stable (stored on jobs, keyed in the catalogue); ``params`` fill the
    sentence; ``permanent``: retrying the same input is futile."""

    code = "engine_error"
    permanent = True

    def __init__(self, detail: str = "", /, **params: Any) -> None:
        self.params: dict[str, Any] = params
        self.detail = detail or self.code.replace("_", " ")
        super().__init__(self.detail)


class ImageRejected(EngineError):
    """The bytes are not an image we accept. ``code`` is the reason: ``empty``, ``not_an_image``,
    ``unsupported_format``, ``truncated``, ``corrupt``, ``too_small``, ``too_large``, ``too_complex``."""

    code = "image_rejected"

    def __init__(self, reason: str, detail: str = "", /, **params: Any) -> None:
        self.code = reason  # the instance's own code: the catalogue has a sentence per reason
        super().__init__(detail or f"image rejected: {reason.replace('_', ' ')}", **params)

    @property
    def reason(self) -> str:
        return self.code


class NoFaceFound(EngineError):
    """``params``: ``role`` ("source", "target", "caricature") when the caller knows which photo."""

    code = "no_face"

    def __init__(self, detail: str = "no face found in the image", /, **params: Any) -> None:
        super().__init__(detail, **params)


class FaceIndexError(EngineError):
    """The person asked for a face number the picture does not have. ``params``: ``number``, ``count``."""

    code = "bad_face_index"


class ModelMissing(EngineError):
    """``params``: ``name`` (``swapbot models fetch NAME``) and ``path``."""

    code = "model_missing"

    def __init__(self, name: str, path: str) -> None:
        self.name = name
        self.path = path
        super().__init__(
            f"model file missing: {path} (model '{name}'); run `swapbot models fetch {name}` "
            "on a machine with internet, or copy the file there",
            name=name,
            path=path,
        )


class StylizerError(EngineError):
    """A remote stylizer failed. ``permanent`` is False for timeouts, 429 and 5xx after retries.
    ``params``: ``service``."""

    code = "stylizer_error"

    def __init__(self, detail: str, /, *, permanent: bool, **params: Any) -> None:
        self.permanent = permanent
        super().__init__(detail, **params)
