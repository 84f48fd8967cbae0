"""What a chat asks for, and the job id derived from it.

Inputs travel by reference (a Telegram file_id, a Discord attachment URL, a local path), never as
bytes. Each reference carries a stable identity of its content (Telegram's file_unique_id, Discord's
attachment id, a file's SHA-256): the job id hashes those identities with the source, the parameters
and the user, so the same request twice (a double tap, a duplicated update) is the same job.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from db.jobs import Delivery
from db.models import JobKind
from jobs import params as job_params

InputKind = Literal["telegram", "url", "local"]
_INPUT_KINDS = ("telegram", "url", "local")
ID_VERSION = 1


@dataclass(frozen=True, slots=True)
class InputRef:
    """Where an input lives (``ref``: file_id, URL or path) and what it is (``identity``)."""

    kind: InputKind
    ref: str
    identity: str

    def __post_init__(self) -> None:
        if self.kind not in _INPUT_KINDS:
            raise ValueError(f"unknown input kind {self.kind!r}; one of {', '.join(_INPUT_KINDS)}")
        if not self.ref or not self.identity:
            raise ValueError("an input needs both a reference and an identity")

    @classmethod
    def telegram(cls, file_id: str, file_unique_id: str) -> InputRef:
        return cls("telegram", file_id, f"tg:{file_unique_id}")

    @classmethod
    def discord(cls, url: str, attachment_id: int | str) -> InputRef:
        return cls("url", url, f"discord:{attachment_id}")

    @classmethod
    def local(cls, path: Path | str) -> InputRef:
        """A file on this machine, identified by its SHA-256 (read once, here)."""
        path = Path(path).resolve()
        digest = hashlib.sha256()
        with path.open("rb") as handle:
            for chunk in iter(lambda: handle.read(1 << 20), b""):
                digest.update(chunk)
        return cls("local", str(path), f"sha256:{digest.hexdigest()}")

    def to_json(self) -> dict[str, str]:
        return {"kind": self.kind, "ref": self.ref, "identity": self.identity}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> InputRef:
        return cls(data["kind"], data["ref"], data["identity"])


@dataclass(frozen=True, slots=True)
class SavedFaceRef:
    """A face the user saved earlier, by its ``db.models.SavedFace`` id: no source photo needed."""

    face_id: int

    @property
    def identity(self) -> str:
        return f"face:{self.face_id}"


@dataclass(frozen=True, slots=True)
class JobRequest:
    """One unit of paid work.

    swap: ``target`` photo, ``source`` photo (face ``params["source_face"]``, default 1) or a
    ``SavedFaceRef`` (with ``mix``: more saved-face ids averaged with it); params ``faces`` (1-based
    target face numbers, None = all; ``choose``: not said, so one face is swapped and several end the
    job as needing a choice), ``restorer`` (None, "gfpgan", "codeformer"). caricature: ``target``;
    params ``style``, ``strength``. enhance: ``target``; params ``restorer``, ``blend``. analyze:
    ``target``, free; no params (``analysis``), or purpose "save" (jobs.params).

    ``detections``: the id of an earlier job of this user on the same photo whose faces are stored (the
    one a picker's choice comes from): the worker reuses them instead of detecting again. Not part of
    the job id: the same swap asked with or without them is the same job.
    """

    user_id: int
    kind: JobKind | str
    target: InputRef
    source: InputRef | SavedFaceRef | None = None
    params: Mapping[str, Any] = field(default_factory=dict)
    cost: int = 1
    delivery: Delivery | None = None
    detections: str | None = None

    def __post_init__(self) -> None:
        kind = JobKind(self.kind)
        if kind == JobKind.SWAP and self.source is None:
            raise ValueError("a swap needs a source photo or a saved face")
        if kind != JobKind.SWAP and self.source is not None:
            raise ValueError(f"a {kind.value} job takes no source")
        normal = job_params.normalize(kind, self.params, saved_face=isinstance(self.source, SavedFaceRef))
        object.__setattr__(self, "params", normal)  # frozen: the canonical form replaces what was given
        if self.cost < 0:
            raise ValueError("cost must be >= 0")
        if kind == JobKind.ANALYZE and self.cost:
            raise ValueError("an analysis is free: its cost is 0")

    @classmethod
    def analysis(cls, user_id: int, photo: InputRef, delivery: Delivery | None = None) -> JobRequest:
        """Find the faces of ``photo`` for a numbered picker; the same photo twice is one job."""
        return cls(user_id=user_id, kind=JobKind.ANALYZE, target=photo, cost=0, delivery=delivery)

    def inputs_json(self) -> dict[str, Any]:
        inputs: dict[str, Any] = {"target": self.target.to_json()}
        if isinstance(self.source, InputRef):
            inputs["source"] = self.source.to_json()
        elif isinstance(self.source, SavedFaceRef):
            inputs["saved_face"] = self.source.face_id
        if self.detections is not None:
            inputs["detections"] = self.detections
        return inputs


def job_id(request: JobRequest) -> str:
    """``<kind>:<32 hex>``: SHA-256 of a canonical JSON of what the job does and for whom.

    References are left out on purpose: Telegram gives the same photo a different file_id in another
    chat or bot, while its file_unique_id (the identity) stays.
    """
    source = request.source.identity if request.source is not None else None
    canonical = json.dumps(
        {
            "v": ID_VERSION,
            "user": request.user_id,
            "kind": JobKind(request.kind).value,
            "target": request.target.identity,
            "source": source,
            "params": dict(request.params),
        },
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=True,
    )
    return f"{JobKind(request.kind).value}:{hashlib.sha256(canonical.encode()).hexdigest()[:32]}"


def generation_id(base: str, generation: int) -> str:
    """The id of asking again after the first job ended without a result (failed, cancelled, purged)."""
    return base if generation <= 1 else f"{base}.{generation}"
