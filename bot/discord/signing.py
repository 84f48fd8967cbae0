"""Signed custom ids (the implementation is shared with Telegram's signed buttons: bot/signing.py)."""

from __future__ import annotations

from bot.signing import SIGNATURE_CHARS, sign, verify

__all__ = ["SIGNATURE", "SIGNATURE_CHARS", "sign", "verify"]

# The signature group that ends every signed custom id's template: wider than the SIGNATURE_CHARS that
# ``sign`` makes, so a wrong one still matches and is refused by ``verify`` with an answer.
SIGNATURE = r"(?P<sig>[A-Za-z0-9_-]{4,16})"
