"""structlog set-up: human-readable on a terminal, JSON in production. Logs carry ids, never bytes.

Every line, ours and the standard library's (aiogram, aiohttp, discord.py, arq), passes one redaction
on its way out: the configured secrets (bot tokens, Stripe keys, webhook secrets, the HMAC key, API
keys, passwords in database and Redis URLs) become ``[redacted]`` wherever they appear, tracebacks
included (aiogram puts the bot token in the URLs of some errors). Bytes values are never rendered:
a photo in a log call shows as its length.
"""

from __future__ import annotations

import json as jsonlib
import logging
import sys
from collections.abc import Iterable, Mapping, MutableMapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import structlog

REDACTED = "[redacted]"
MIN_SECRET = 6  # shorter values (a test's "x", a port) would blank out ordinary words


class Redactor:
    """Replaces each secret, and its URL-encoded form, in text."""

    def __init__(self, secrets: Iterable[str]) -> None:
        self.secrets: list[str] = []
        self.add(secrets)

    def add(self, secrets: Iterable[str]) -> None:
        found = set(self.secrets)
        for secret in secrets:
            if secret and len(secret) >= MIN_SECRET:
                found.update({secret, quote(secret, safe=""), quote(secret)})
        # Longest first: a secret that contains another is replaced whole.
        self.secrets = sorted(found, key=len, reverse=True)

    def __call__(self, text: str) -> str:
        for secret in self.secrets:
            if secret in text:
                text = text.replace(secret, REDACTED)
        return text


def drop_bytes(_: Any, __: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """A structlog processor: bytes (an image, a file) are logged as their length, never their content."""
    for key, value in event_dict.items():
        if isinstance(value, bytes | bytearray | memoryview):
            event_dict[key] = f"<{len(value)} bytes>"
    return event_dict


class _RedactingFormatter(logging.Formatter):
    """The standard library's lines (third-party libraries), redacted; as JSON lines in production,
    so a log shipper reads one format."""

    def __init__(self, redact: Redactor, as_json: bool) -> None:
        super().__init__("%(message)s")
        self.redact = redact
        self.as_json = as_json

    def format(self, record: logging.LogRecord) -> str:
        if not self.as_json:
            return self.redact(super().format(record))
        line: dict[str, Any] = {
            "event": record.getMessage(),
            "logger": record.name,
            "level": record.levelname.lower(),
            "timestamp": datetime.fromtimestamp(record.created, UTC).isoformat(),
        }
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return self.redact(jsonlib.dumps(line, default=repr))


def configure_logging(level: str = "INFO", json: bool = False, secrets: Iterable[str] = ()) -> Redactor:
    """Set up structlog and the standard library's root logger; ``secrets``: values no line may show
    (``Settings.secret_values``). Returns the redaction in force, for the composition root to hand it
    the secrets a process makes later (``Redactor.add``: a key generated at start-up)."""
    redact = Redactor(secrets)
    # Third-party libraries log through the standard library: warnings only, except the lines that
    # say what a migration did.
    root = logging.getLogger()
    for old in [h for h in root.handlers if isinstance(h.formatter, _RedactingFormatter)]:
        root.removeHandler(old)  # configured again (tests, a command calling another): one handler
    handler = logging.StreamHandler(_Stderr())
    handler.setFormatter(_RedactingFormatter(redact, json))
    root.addHandler(handler)
    root.setLevel(logging.WARNING)
    logging.getLogger("alembic.runtime.migration").setLevel(logging.INFO)
    renderer = structlog.processors.JSONRenderer() if json else structlog.dev.ConsoleRenderer(colors=False)

    def redacted(_: Any, __: str, line: str | Mapping[str, Any]) -> str | Mapping[str, Any]:
        return redact(line) if isinstance(line, str) else line

    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso"),
            drop_bytes,
            structlog.processors.format_exc_info if json else _keep,
            renderer,
            redacted,  # on the rendered line: secrets nested anywhere (a dict, a traceback) go too
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        # sys.stderr is looked up per logger, not captured once: whoever swaps it (a test runner,
        # a daemoniser) must not leave us writing to a closed file.
        logger_factory=lambda *_: structlog.PrintLogger(sys.stderr),
        cache_logger_on_first_use=False,
    )
    return redact


def _keep(_: Any, __: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    return event_dict  # the console renderer formats exceptions itself


class _Stderr:
    """sys.stderr as it is at each write (see logger_factory above), for the standard library."""

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()
