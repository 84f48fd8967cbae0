"""What ``swapbot doctor``'s checks take and return: their options, the settings as loaded, and
findings (ok, warn, FAIL, skip). Shared by swapbot/doctor.py (which runs and renders them) and
swapbot/doctor_checks.py (the checks)."""

from __future__ import annotations

import enum
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from swapbot.settings import Settings


class Status(enum.Enum):
    OK = "ok"
    WARN = "warn"
    FAIL = "FAIL"
    SKIP = "skip"


@dataclass(frozen=True)
class Finding:
    status: Status
    check: str
    detail: str
    fix: str = ""


@dataclass(frozen=True)
class Options:
    verify: bool = True  # hash the model files (slow for the ONNX ones: about 1.5 GB)
    require_gpu: bool = False  # a GPU worker's health check: CPU fallback is a failure
    timeout_s: float = 5.0  # for each network call (getMe, /users/@me, Redis, the database)


@dataclass(frozen=True)
class Loaded:
    """The settings, with each malformed variable at its default so the other checks can still run."""

    settings: Settings
    errors: tuple[str, ...]


Check = Callable[[Loaded, Options], Awaitable[list[Finding]]]


def sqlite_path(database_url: str) -> Path | None:
    """The file of an SQLite URL (None for Postgres or an in-memory database)."""
    from sqlalchemy.engine import make_url

    url = make_url(database_url)
    if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:":
        return None
    return Path(url.database)
