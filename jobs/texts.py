"""What jobs/ tells a chat, as codes with parameters. jobs/ writes no sentences: the composition root
hands it the bot's catalogue (``bot.texts.Catalogue``), which implements ``Texts`` in the user's
language."""

from __future__ import annotations

from typing import Any, Protocol

# The codes jobs/ asks the catalogue for, and their parameters.
QUEUED = "job_queued"  # position: int | None (1-based place among waiting jobs)
WORKING = "job_working"
DONE = "job_done"
CANCELLED = "job_cancelled"  # refunded: bool
FAILED = "job_failed"  # reason: the failure's code; refunded: bool; plus the failure's own params
FACES_FOUND = "faces_found"  # count: int (the caption of an analysis's numbered preview)
# count: int, left_out: int (added to that caption when smaller faces beyond the limit were not numbered)
FACES_LEFT_OUT = "faces_left_out"


class Texts(Protocol):
    def text(self, code: str, language: str | None = None, /, **params: Any) -> str:
        """The sentence for ``code`` with ``params`` in ``language`` (the default language when None
        or not translated)."""
        ...


FACE_SAVED = "face_saved"  # name: str (an analysis for saving found one face and saved it)
NO_CREDITS = "insufficient_credits"  # balance: int, needed: int
RESULT_CAPTION = "result_caption"  # balance: int (the credits left, under a paid result)
