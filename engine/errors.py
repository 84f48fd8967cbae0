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
    ``unsupported_format``, ``truncated``, ``corrupt``, ``too_small``, ``too_large``, ``too_complex``,
    ``file_too_large`` (``engine.imageio.REJECTION_CODES``, whose comment lists each code's params)."""

    code = "image_rejected"

    def __init__(self, reason: str, detail: str = "", /, **params: Any) -> None:
        self.code = reason  # the instance's own code: the catalogue has a sentence per reason
        super().__init__(detail or f"image rejected: {reason.replace('_', ' ')}", **params)

    @property
    def reason(self) -> str:
        return self.code


class NoFaceFound(EngineError):
    """``role``: which photo had no face ("source", "target", "caricature"), None when the caller does
    not know; the catalogue picks the sentence that names it."""

    code = "no_face"

    def __init__(self, detail: str = "no face found in the image", /, *, role: str | None = None) -> None:
        super().__init__(detail, role=role)


class FaceIndexError(EngineError):
    """The person asked for face ``number`` of a picture that has ``count`` faces."""

    code = "bad_face_index"

    def __init__(self, number: int, count: int) -> None:
        super().__init__(
            f"face {number} does not exist: the picture has {count} face(s)", number=number, count=count
        )


class ModelMissing(EngineError):
    """``params``: ``name`` (``swapbot models fetch NAME``), ``path``, and whatever else a subclass
    that knows more adds (``BundledModelMissing``: ``package``)."""

    code = "model_missing"

    def __init__(self, name: str, path: str, detail: str = "", /, **params: Any) -> None:
        self.name = name
        self.path = path
        super().__init__(
            detail
            or f"model file missing: {path} (model '{name}'); run `swapbot models fetch {name}` "
            "on a machine with internet, or copy the file there",
            name=name,
            path=path,
            **params,
        )


class StylizerError(EngineError):
    """A remote stylizer (``service``: "openai", "replicate") failed. ``permanent`` is False for
    timeouts, 429 and 5xx after retries."""

    code = "stylizer_error"

    def __init__(self, detail: str, /, *, service: str, permanent: bool) -> None:
        self.permanent = permanent
        super().__init__(detail, service=service)


class StylizerUnavailable(EngineError):
    """Caricature ``style`` needs a remote service that is not set up on this machine (no key, no
    model); ``detail`` names the settings it needs."""

    code = "stylizer_unavailable"

    def __init__(self, style: str, detail: str) -> None:
        super().__init__(detail, style=style)


class EmbeddingMissing(EngineError):
    """A saved face has no embedding of ``model``, the engine asked to use it: a face saved with one
    engine is never silently used with another's vector."""

    code = "embedding_missing"

    def __init__(self, model: str) -> None:
        super().__init__(f"the saved face has no {model} embedding; save it again", model=model)


class SavedFaceCorrupt(EngineError):
    """Stored bytes of a saved face that make no identity (``problem`` says what is wrong)."""

    code = "saved_face_corrupt"

    def __init__(self, problem: str) -> None:
        super().__init__(f"the saved face cannot be read: {problem}", problem=problem)
