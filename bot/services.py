"""What every bot (Telegram, Discord) and every flow needs, in one object built once at start-up by the
composition root (swapbot/) and injected: aiogram puts it in the dispatcher's data (handlers take a
``services: Services`` argument), discord.py keeps it on the client. Nothing here reads the
environment; no module globals."""

from __future__ import annotations

from dataclasses import dataclass, field

from bot.once import MemoryOnce, Once
from bot.pending import MemoryPending, Pending
from bot.pricing import Pack
from bot.ratelimit import RateLimiter
from bot.texts import Catalogue
from db.session import Database
from jobs.client import JobClient


@dataclass(frozen=True, slots=True)
class StripeCheckoutConfig:
    """Stripe Checkout, configured: the API key and base URL the ``stripe`` library uses, where
    Checkout sends the buyer back, and whether Telegram users are offered the link too (Telegram wants
    Stars for digital goods, so operators decide)."""

    secret_key: str
    success_url: str
    cancel_url: str
    api_url: str = "https://api.stripe.com"
    telegram_checkout: bool = False


@dataclass(frozen=True, slots=True)
class StripeAccount:
    """The Stripe API key and base URL on their own, for what is not Checkout: refunding card payments
    (Telegram's, made with the provider token, and Checkout's alike)."""

    secret_key: str
    api_url: str = "https://api.stripe.com"


@dataclass(frozen=True, slots=True)
class BotConfig:
    """The settings the bots act on, as plain values (the composition root maps ``Settings`` onto it).

    ``caricature_styles`` and ``restorers`` are what the workers offer (local styles always; a remote
    style only when its key is set; restorers when their models are there): the bots show exactly
    these as buttons and never import the engine to find out.
    """

    secret_key: bytes  # HMAC key: free-grant memory after /forget, signed callback data
    free_credits: int = 3
    admins: frozenset[tuple[str, str]] = frozenset()  # (platform, external id)
    packs: tuple[Pack, ...] = ()
    retention_hours: float = 24.0
    caricature_styles: tuple[str, ...] = ("warp", "cartoon", "both")
    restorers: tuple[str, ...] = ()
    max_file_bytes: int = 20_000_000  # getFile's limit: larger files are refused before any work
    swap_cost: int = 1
    caricature_cost: int = 1
    terms_version: str = "1"  # agreeing to the terms records this; a new version asks everyone again
    report_ban_threshold: int = 3  # confirmed reports against a user that ban them automatically
    # Telegram's provider token for fiat invoices (a pack's Stripe price); None: Stars only.
    stripe_provider_token: str | None = None
    # Stripe Checkout links (Discord's /buy; Telegram's when enabled); None: not configured.
    stripe: StripeCheckoutConfig | None = None
    # The Stripe API key (STRIPE_SECRET_KEY), Checkout or not: admins' card refunds. None: not set.
    stripe_account: StripeAccount | None = None

    def is_admin(self, platform: str, external_id: str | int) -> bool:
        return (str(platform), str(external_id)) in self.admins

    def stripe_api(self) -> StripeAccount | None:
        """The Stripe key to call the API with: the account's, else Checkout's; None when neither is set."""
        if self.stripe_account is not None:
            return self.stripe_account
        if self.stripe is not None and self.stripe.secret_key:
            return StripeAccount(self.stripe.secret_key, self.stripe.api_url)
        return None


@dataclass(slots=True)
class Services:
    db: Database
    jobs: JobClient
    texts: Catalogue
    config: BotConfig
    limiter: RateLimiter
    # Marks kept for a while (duplicate updates, "banned" told once): Redis when REDIS_URL is set.
    once: Once = field(default_factory=MemoryOnce)
    # What waits for a person's answer (the swap that asked for consent): Redis when REDIS_URL is set.
    pending: Pending = field(default_factory=MemoryPending)
