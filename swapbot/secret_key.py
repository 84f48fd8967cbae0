"""SWAPBOT_SECRET_KEY: the HMAC key, given or (embedded mode) generated once beside the SQLite file.

The key must outlive restarts: it keys the memory of who has had the free credits (and signed
callback data), so a key that changed would forget them. With SQLite and no key set, one is generated
on first use and kept in ``<database file>.key`` (mode 0600); with Postgres there is no file beside
the database to keep it in, so the key must be set.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from pathlib import Path

MIN_LENGTH = 32
EXAMPLE = "64 hex characters from: python -c 'import secrets; print(secrets.token_hex(32))'"


class SecretKeyError(ValueError):
    """The key is missing where it cannot be generated, or its file cannot be kept."""


def resolve_secret_key(database_url: str, configured: str | None) -> bytes:
    """The key's bytes: ``configured`` when set, else the SQLite database's key file (made if absent)."""
    from sqlalchemy.engine import make_url

    if configured:
        return configured.encode()
    url = make_url(database_url)
    if url.get_backend_name() != "sqlite":
        raise SecretKeyError(
            f"SWAPBOT_SECRET_KEY must be set with {url.get_backend_name()} (it keys who has had the "
            f"free credits, and a key that changed would forget them); example: {EXAMPLE}"
        )
    path = key_file(database_url)
    if path is None:
        return secrets.token_hex(32).encode()  # the database lives as long as the process, so may the key
    return _kept_key(path)


def key_file(database_url: str) -> Path | None:
    """Where a generated key is kept: beside an SQLite database's file; None for an in-memory SQLite
    database or another backend (no file to keep it beside)."""
    from sqlalchemy.engine import make_url

    url = make_url(database_url)
    if url.get_backend_name() != "sqlite":
        return None
    if not url.database or url.database == ":memory:" or url.query.get("mode") == "memory":
        return None
    return Path(f"{url.database}.key")


def _kept_key(path: Path) -> bytes:
    try:
        if not path.exists():
            _create(path)
        key = path.read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not ASCII text"
        raise SecretKeyError(f"cannot keep the secret key in {path}: {reason}") from None
    if len(key) < MIN_LENGTH:
        raise SecretKeyError(f"the secret key in {path} is shorter than {MIN_LENGTH} characters")
    return key.encode()


def _create(path: Path) -> None:
    # Written whole to a private temporary file, then linked into place: a second process starting at
    # the same moment either wins the link or reads the complete key of the one that did.
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(4)}")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="ascii") as file:
            file.write(secrets.token_bytes(32).hex() + "\n")
            file.flush()
            os.fsync(file.fileno())
        with contextlib.suppress(FileExistsError):
            os.link(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)
