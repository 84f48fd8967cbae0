"""The numbered face pickers: which job asks for a choice, and what its buttons may name.

A photo with several faces and none chosen ends its job as ``needs_choice`` (db/jobs.py) with its faces
stored: a swap's picker (``SWAP``: a number or All, and another saved face) or a save's (``SAVE``: a
number). A button names the job by its id without the ``<kind>:`` (the platforms' button data is short).
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import Any

from db.models import JobKind


class Picker(StrEnum):
    SWAP = JobKind.SWAP.value
    SAVE = JobKind.ANALYZE.value

    def job_id(self, short: str) -> str:
        """The id of the job a button names by ``short``."""
        return f"{self.value}:{short}"

    @staticmethod
    def short(job_id: str) -> str:
        return job_id.partition(":")[2]


def picker_of(kind: str | None, params: Mapping[str, Any]) -> Picker | None:
    """The picker a job of ``kind`` with ``params`` asks with when its photo has several faces."""
    if kind == JobKind.SWAP.value and params.get("choose"):
        return Picker.SWAP
    if kind == JobKind.ANALYZE.value and params.get("purpose") == "save":
        return Picker.SAVE
    return None
