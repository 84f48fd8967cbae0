"""The words of status messages. The bot passes its own (translated) ``Texts``; these English ones are
the default, so a worker without the bot's texts still says something clear."""

from __future__ import annotations

from typing import Protocol


class Texts(Protocol):
    def queued(self, position: int | None, language: str | None) -> str: ...

    def working(self, language: str | None) -> str: ...

    def done(self, language: str | None) -> str: ...

    def failed(self, code: str, detail: str, refunded: bool, language: str | None) -> str: ...

    def cancelled(self, refunded: bool, language: str | None) -> str: ...


_FAILURES = {
    "no_face": "I could not find a face in the photo. Try a clear, front-facing photo.",
    "bad_face_index": "That face number does not exist in the photo.",
    "image_rejected": "That file is not a photo I can use.",
    "landmarks_required": "Caricatures need the classic engine on this server.",
    "model_missing": "The server is missing a model file; the admins have been told.",
    "input_unavailable": "I could not get your photo any more. Please send it again.",
    "input_too_large": "That file is too large. Please send a smaller photo.",
    "face_not_found": "That saved face no longer exists.",
    "embedding_missing": "That saved face was made with another engine. Please save it again.",
    "timeout": "This took too long and was stopped.",
}


class EnglishTexts:
    def queued(self, position: int | None, language: str | None) -> str:
        return f"Queued: you are #{position}." if position else "Queued."

    def working(self, language: str | None) -> str:
        return "Working on it…"

    def done(self, language: str | None) -> str:
        return "Done."

    def failed(self, code: str, detail: str, refunded: bool, language: str | None) -> str:
        reason = _FAILURES.get(code, "Something went wrong.")
        if code in ("bad_face_index", "image_rejected") and detail:
            reason = f"{reason} ({detail})"
        return f"{reason} Your credits were refunded." if refunded else reason

    def cancelled(self, refunded: bool, language: str | None) -> str:
        return "Cancelled. Your credits were refunded." if refunded else "Cancelled."
