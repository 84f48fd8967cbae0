"""What a well-formed token, key or webhook URL looks like, checked offline (``swapbot doctor``).

Each function returns ``None`` when the value looks right, else one sentence saying what is wrong;
none of them ever repeats the value, since it may be a secret.
"""

from __future__ import annotations

import base64
import binascii
import re
from typing import Literal
from urllib.parse import urlsplit

TELEGRAM_TOKEN = re.compile(r"\d+:[A-Za-z0-9_-]{35}")
_BASE64URL = re.compile(r"[A-Za-z0-9_-]+")
_PROVIDER_TOKEN = re.compile(r"\d+:(TEST|LIVE):\S+")
StripeMode = Literal["test", "live"]


def telegram_token_problem(token: str) -> str | None:
    if TELEGRAM_TOKEN.fullmatch(token):
        return None
    return "not <bot id>:<35 letters, digits, _ or ->, the form @BotFather hands out"


def discord_token_problem(token: str) -> str | None:
    """A bot token is three base64url parts joined by dots; the first is the bot's user id (digits)."""
    parts = token.split(".")
    if len(parts) != 3 or not all(_BASE64URL.fullmatch(part) for part in parts):
        return "not three base64 parts joined by dots, the form the Developer Portal's Bot page gives"
    try:
        user_id = base64.urlsafe_b64decode(parts[0] + "=" * (-len(parts[0]) % 4)).decode("ascii")
    except (binascii.Error, UnicodeDecodeError):
        user_id = ""
    if not user_id.isdigit():
        return "its first part does not decode to the bot's user id: a client secret or an OAuth token?"
    return None


def stripe_key_mode(key: str) -> StripeMode | None:
    """``test`` or ``live`` for a secret (``sk_``) or restricted (``rk_``) API key, else None."""
    match = re.fullmatch(r"(?:sk|rk)_(test|live)_[A-Za-z0-9]+", key)
    return match[1] if match else None  # type: ignore[return-value]


def stripe_key_problem(key: str) -> str | None:
    if key.startswith("pk_"):
        return "a publishable key (pk_): the server needs the secret key (sk_) or a restricted one (rk_)"
    if stripe_key_mode(key) is None:
        return "not a Stripe secret key (sk_test_/sk_live_) or restricted key (rk_test_/rk_live_)"
    return None


def stripe_webhook_secret_problem(secret: str) -> str | None:
    if re.fullmatch(r"whsec_[A-Za-z0-9+/=]+", secret):
        return None
    return "not an endpoint signing secret (whsec_...), from the webhook endpoint's page in Stripe"


def provider_token_mode(token: str) -> StripeMode | None:
    """Telegram's payment provider tokens read ``<id>:TEST:...`` or ``<id>:LIVE:...``."""
    match = _PROVIDER_TOKEN.fullmatch(token)
    return ("test" if match[1] == "TEST" else "live") if match else None


def https_url_problem(url: str, *, path_suffix: str = "") -> str | None:
    """Telegram and Stripe only call https URLs with a host; ``path_suffix`` is the route we serve."""
    parts = urlsplit(url)
    if parts.scheme != "https":
        return "must be an https:// URL (Telegram and Stripe call nothing else)"
    if not parts.hostname:
        return "has no host name"
    if path_suffix and not parts.path.rstrip("/").endswith(path_suffix):
        return f"its path must end with {path_suffix}, the route swapbot web serves"
    return None
