"""Job parameters per kind: validated and normalised once, at submit, so that two ways of asking the
same thing (``{}`` and ``{"source_face": 1}``, faces ``[3, 1, 1]`` and ``[1, 3]``) hash to one job id
and the worker reads back exactly what was checked."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from db.errors import InvalidName
from db.faces import normalize_name
from db.models import JobKind
from engine.choices import CARICATURE_STYLES, DEFAULT_RESTORER, MAX_MIX, RESTORERS, check_choice

MAX_STRENGTH = 3.0


def normalize(kind: JobKind | str, params: Mapping[str, Any], *, saved_face: bool = False) -> dict[str, Any]:
    """The canonical parameters of a ``kind`` job; ``ValueError`` names the first bad one."""
    kind = JobKind(kind)
    if kind == JobKind.SWAP:
        out: dict[str, Any] = {
            "faces": _faces(params.get("faces")),
            "restorer": _restorer(params.get("restorer"), optional=True),
        }
        # A photo sent without saying which faces: its one face is swapped; several end the job as
        # needing a choice (db.jobs.await_choice). Kept only when true, so every other job id stays.
        if params.get("choose") not in (None, False, True):
            raise ValueError("choose must be true or false")
        if params.get("choose"):
            if out["faces"] is not None:
                raise ValueError("choose asks which faces: the faces cannot be given too")
            out["choose"] = True
        if not saved_face:  # a saved face is one face: the number only means something for a photo
            out["source_face"] = _positive_int("source_face", params.get("source_face", 1))
            if params.get("mix"):
                raise ValueError("mix averages saved faces: the swap's source must be a saved face")
        elif params.get("mix"):  # more saved faces averaged with the first ("/swap anna+bob")
            out["mix"] = _mix(params["mix"])
        allowed = {"faces", "restorer", "source_face", "mix", "choose"}
    elif kind == JobKind.CARICATURE:
        style = params.get("style", "both")
        check_choice("style", style, CARICATURE_STYLES)
        strength = _number("strength", params.get("strength", 1.0), 0.0, MAX_STRENGTH)
        out = {"faces": _faces(params.get("faces")), "style": style, "strength": strength}
        allowed = {"faces", "style", "strength"}
    elif kind == JobKind.ENHANCE:
        out = {
            "restorer": _restorer(params.get("restorer", DEFAULT_RESTORER), optional=False),
            "blend": _number("blend", params.get("blend", 0.8), 0.0, 1.0),
        }
        allowed = {"restorer", "blend"}
    elif kind == JobKind.ANALYZE:
        out = _analysis(params)
        allowed = set(out)  # its own keys only
    else:
        raise ValueError(f"{kind.value} jobs are not run by the queue")
    # Any kind: the photo came from a Discord channel marked NSFW (the content guard's rule reads it).
    # Kept only when true, so the parameters (and the job id) of every other job are as they were.
    if params.get("channel_nsfw") not in (None, False, True):
        raise ValueError("channel_nsfw must be true or false")
    if params.get("channel_nsfw"):
        out["channel_nsfw"] = True
    unknown = sorted(set(params) - allowed - {"channel_nsfw"})
    if unknown:
        raise ValueError(f"unknown {kind.value} parameter(s): {', '.join(unknown)}")
    return out


def _analysis(params: Mapping[str, Any]) -> dict[str, Any]:
    """Every face, numbered: the picker chooses afterwards. ``purpose`` "save" (with ``name``): the
    photo's face is saved under it, by the worker when there is one face, by the picker's choice when
    there are several. Without a purpose the params stay ``{}``."""
    purpose = params.get("purpose")
    if purpose is None:
        return {}
    if purpose != "save":
        raise ValueError(f"unknown analysis purpose {purpose!r}: save")
    name = params.get("name")
    try:
        name = normalize_name(name) if isinstance(name, str) else None
    except InvalidName:
        name = None
    if name is None:
        raise ValueError(f"a face to save needs a valid name, not {params.get('name')!r}")
    return {"purpose": purpose, "name": name}


def _mix(value: Any) -> list[int]:
    """Saved-face ids mixed in with the swap's own saved face: up to MAX_MIX - 1, in the order asked."""
    if isinstance(value, (str, bytes)) or not hasattr(value, "__iter__"):
        raise ValueError(f"mix must be a list of saved-face ids, not {value!r}")
    ids = [_positive_int("mix", n) for n in value]
    if not 1 <= len(ids) <= MAX_MIX - 1 or len(set(ids)) != len(ids):
        raise ValueError(f"mix takes 1 to {MAX_MIX - 1} other saved faces, each once, not {value!r}")
    return ids


def _faces(value: Any) -> list[int] | None:
    if value is None:
        return None
    if isinstance(value, (str, bytes)) or not hasattr(value, "__iter__"):
        raise ValueError(f"faces must be a list of face numbers or None, not {value!r}")
    numbers = sorted({_positive_int("faces", n) for n in value})
    if not numbers:
        raise ValueError("faces must name at least one face (or be None for all)")
    return numbers


def _positive_int(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a whole number from 1, not {value!r}")
    return value


def _number(name: str, value: Any, low: float, high: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value <= high:
        raise ValueError(f"{name} must be a number from {low} to {high}, not {value!r}")
    return float(value)


def _restorer(value: Any, *, optional: bool) -> str | None:
    if value is None and optional:
        return None
    check_choice("restorer", value, RESTORERS)
    return str(value)
