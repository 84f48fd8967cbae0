"""Signed custom ids (the implementation is shared with Telegram's signed buttons: bot/signing.py)."""

from __future__ import annotations

from bot.signing import SIGNATURE_CHARS, sign, signed_id, verify

__all__ = ["SIGNATURE_CHARS", "sign", "signed_id", "verify"]
