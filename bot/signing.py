"""Signed button data: what a button names comes back from the client, so it carries an HMAC (with
SWAPBOT_SECRET_KEY) over what it names and the platform user it was shown to. A forged, altered or
foreign press fails here; the flow then re-checks what it names against the database anyway."""

from __future__ import annotations

import base64
import hashlib
import hmac

SIGNATURE_CHARS = 11  # 8 bytes of the HMAC, base64url: Discord custom ids <= 100, Telegram data <= 64


def sign(secret: bytes, user_id: int | str, payload: str) -> str:
    digest = hmac.new(secret, f"{user_id}|{payload}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest[:8]).decode().rstrip("=")[:SIGNATURE_CHARS]


def verify(secret: bytes, user_id: int | str, payload: str, signature: str) -> bool:
    return hmac.compare_digest(sign(secret, user_id, payload), signature)
