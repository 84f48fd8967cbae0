"""The one configuration object: built once at start-up from the environment and ``.env``.

A malformed value stops start-up with one line per variable that names it and shows an example
(``error_lines``); secrets and URLs are never echoed back.
"""

from __future__ import annotations

import re
from functools import cached_property
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import unquote, urlsplit

from pydantic import Field, SecretBytes, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from bot.pricing import DEFAULT_PACKS, PACKS_EXAMPLE, Pack, parse_packs
from engine.choices import DEFAULT_PROVIDERS, PROVIDERS, Detector, EngineName, check_choice
from swapbot.secret_key import EXAMPLE as SECRET_KEY_EXAMPLE
from swapbot.secret_key import MIN_LENGTH as SECRET_KEY_MIN_LENGTH
from swapbot.secret_key import resolve_secret_key


def _split_csv(value: object) -> object:
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


_DATABASE_URL = re.compile(r"(?P<backend>\w+)(\+\w+)?://")
_WEBHOOK_SECRET = re.compile(r"[A-Za-z0-9_-]{1,256}")
_ADMIN = re.compile(r"(?P<platform>[a-z]+):(?P<id>\d{1,20})")

# Field markers: the value is a secret; or, for a URL, the password in it is.
SECRET = {"secret": "value"}
SECRET_PASSWORD = {"secret": "password"}


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", populate_by_name=True
    )

    database_url: str = Field(
        "sqlite+aiosqlite:///./swapbot.db", alias="DATABASE_URL", json_schema_extra=SECRET_PASSWORD
    )
    secret_key: SecretStr | None = Field(None, alias="SWAPBOT_SECRET_KEY", json_schema_extra=SECRET)
    redis_url: str | None = Field(None, alias="REDIS_URL", json_schema_extra=SECRET_PASSWORD)

    telegram_bot_token: str | None = Field(None, alias="TELEGRAM_BOT_TOKEN", json_schema_extra=SECRET)
    telegram_api_url: str = Field("https://api.telegram.org", alias="TELEGRAM_API_URL")
    telegram_webhook_url: str | None = Field(None, alias="TELEGRAM_WEBHOOK_URL")
    telegram_webhook_secret: str | None = Field(
        None, alias="TELEGRAM_WEBHOOK_SECRET", json_schema_extra=SECRET
    )
    # Fiat invoices (a pack's Stripe price) through Telegram's Stripe provider; unset = Stars only.
    telegram_payment_provider_token: str | None = Field(
        None, alias="TELEGRAM_PAYMENT_PROVIDER_TOKEN", json_schema_extra=SECRET
    )

    web_host: str = Field("127.0.0.1", alias="SWAPBOT_WEB_HOST")
    web_port: int = Field(8080, ge=1, le=65535, alias="SWAPBOT_WEB_PORT")

    # Per-user limits: a burst, then a steady rate (messages and button presses); a daily cap on work
    # (swaps, caricatures, analyses; 0 = none).
    rate_burst: int = Field(10, ge=1, alias="SWAPBOT_RATE_BURST")
    rate_per_minute: float = Field(30.0, gt=0, alias="SWAPBOT_RATE_PER_MINUTE")
    daily_cap: int = Field(100, ge=0, alias="SWAPBOT_DAILY_CAP")

    discord_bot_token: str | None = Field(None, alias="DISCORD_BOT_TOKEN", json_schema_extra=SECRET)
    discord_api_url: str = Field("https://discord.com/api/v10", alias="DISCORD_API_URL")
    # Commands are published to this guild at once (development), else globally (Discord spreads global
    # commands within the hour); DISCORD_SYNC_COMMANDS=false leaves the published ones as they are.
    discord_dev_guild_id: int | None = Field(None, gt=0, alias="DISCORD_DEV_GUILD_ID")
    discord_sync_commands: bool = Field(True, alias="DISCORD_SYNC_COMMANDS")
    # URL inputs are fetched only from these hosts (jobs.config.DISCORD_ATTACHMENT_HOSTS, written out
    # here so reading the settings does not import the engine), and only at public addresses unless
    # SWAPBOT_ALLOW_PRIVATE_FETCH (tests: fakes on 127.0.0.1) is on.
    discord_attachment_hosts: Annotated[tuple[str, ...], NoDecode] = Field(
        ("cdn.discordapp.com", "media.discordapp.net"), alias="DISCORD_ATTACHMENT_HOSTS"
    )
    allow_private_fetch: bool = Field(False, alias="SWAPBOT_ALLOW_PRIVATE_FETCH")

    stripe_secret_key: str | None = Field(None, alias="STRIPE_SECRET_KEY", json_schema_extra=SECRET)
    stripe_webhook_secret: str | None = Field(None, alias="STRIPE_WEBHOOK_SECRET", json_schema_extra=SECRET)
    stripe_api_url: str = Field("https://api.stripe.com", alias="STRIPE_API_URL")
    # Where Stripe Checkout sends the buyer back; Checkout links are offered only when both are set.
    stripe_success_url: str | None = Field(None, alias="STRIPE_SUCCESS_URL")
    stripe_cancel_url: str | None = Field(None, alias="STRIPE_CANCEL_URL")
    # Offer Telegram users the Checkout link too (Telegram requires Stars for digital goods: the
    # operator decides).
    telegram_stripe_checkout: bool = Field(False, alias="SWAPBOT_TELEGRAM_STRIPE_CHECKOUT")

    openai_api_key: str | None = Field(None, alias="OPENAI_API_KEY", json_schema_extra=SECRET)
    openai_base_url: str | None = Field(None, alias="OPENAI_BASE_URL")
    openai_image_model: str = Field("gpt-image-1", alias="OPENAI_IMAGE_MODEL")
    replicate_api_token: str | None = Field(None, alias="REPLICATE_API_TOKEN", json_schema_extra=SECRET)
    replicate_base_url: str | None = Field(None, alias="REPLICATE_BASE_URL")
    replicate_model: str | None = Field(None, alias="REPLICATE_MODEL")
    stylizer_timeout_s: float = Field(120.0, alias="SWAPBOT_STYLIZER_TIMEOUT")

    engine: EngineName = Field("classic", alias="SWAPBOT_ENGINE")
    models_dir: Path = Field(Path("./models"), alias="SWAPBOT_MODELS_DIR")
    providers: Annotated[list[str], NoDecode] = Field(list(DEFAULT_PROVIDERS), alias="SWAPBOT_PROVIDERS")
    detector: Detector = Field("hog", alias="SWAPBOT_DETECTOR")
    # The content guard (engine.safety): block explicit exposure at or above the threshold, or off;
    # Discord channels marked NSFW may be let through (allow).
    nsfw_policy: Literal["block", "off"] = Field("block", alias="SWAPBOT_NSFW_POLICY")
    nsfw_threshold: float = Field(0.5, gt=0, le=1, alias="SWAPBOT_NSFW_THRESHOLD")
    discord_nsfw_channels: Literal["allow", "block"] = Field("block", alias="SWAPBOT_DISCORD_NSFW_CHANNELS")

    # (platform, external id) pairs, e.g. ("telegram", "123").
    admin_ids: Annotated[frozenset[tuple[str, str]], NoDecode] = Field(frozenset(), alias="SWAPBOT_ADMIN_IDS")
    free_credits: int = Field(3, ge=0, alias="SWAPBOT_FREE_CREDITS")
    packs: Annotated[tuple[Pack, ...], NoDecode] = Field(parse_packs(DEFAULT_PACKS), alias="SWAPBOT_PACKS")
    retention_hours: float = Field(24.0, gt=0, alias="SWAPBOT_RETENTION_HOURS")
    # The faces a photo's analysis keeps, the largest first (each is embedded and stored for free, and
    # gets a picker button): at most 24, what Discord's picker shows (5 rows of 5 buttons, one is All).
    max_faces: int = Field(20, ge=1, le=24, alias="SWAPBOT_MAX_FACES")
    # Carried in button data: letters, digits, ".", "_", "-" (no ":", the data's separator).
    terms_version: str = Field("1", pattern=r"^[A-Za-z0-9._-]{1,32}$", alias="SWAPBOT_TERMS_VERSION")
    report_ban_threshold: int = Field(3, ge=1, alias="SWAPBOT_REPORT_BAN_THRESHOLD")

    worker_concurrency: int = Field(8, ge=1, alias="SWAPBOT_WORKER_CONCURRENCY")
    engine_slots: int = Field(1, ge=1, alias="SWAPBOT_ENGINE_SLOTS")
    job_timeout_s: float = Field(120.0, gt=0, alias="SWAPBOT_JOB_TIMEOUT")
    max_tries: int = Field(3, ge=1, alias="SWAPBOT_MAX_TRIES")
    lost_after_s: float = Field(60.0, ge=0, alias="SWAPBOT_LOST_AFTER")
    sweep_interval_s: float = Field(30.0, gt=0, alias="SWAPBOT_SWEEP_INTERVAL")
    queued_max_age_s: float = Field(3600.0, gt=0, alias="SWAPBOT_QUEUED_MAX_AGE")
    # Workers: /metrics on this port (0: off); seconds running jobs get to finish after SIGTERM.
    metrics_port: int = Field(9100, ge=0, le=65535, alias="SWAPBOT_METRICS_PORT")
    shutdown_grace_s: float = Field(120.0, gt=0, alias="SWAPBOT_SHUTDOWN_GRACE")

    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = Field(
        "INFO", alias="SWAPBOT_LOG_LEVEL"
    )
    log_json: bool = Field(False, alias="SWAPBOT_LOG_JSON")

    @field_validator("providers", mode="before")
    @classmethod
    def _csv(cls, value: object) -> object:
        return _split_csv(value)

    @field_validator("discord_attachment_hosts", mode="before")
    @classmethod
    def _hosts(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(host.strip().lower().rstrip(".") for host in value.split(",") if host.strip())
        return value

    @field_validator("database_url")
    @classmethod
    def _database_url(cls, value: str) -> str:
        match = _DATABASE_URL.match(value)
        if match is None:
            raise ValueError("not a database URL")
        if match["backend"] not in ("sqlite", "postgresql"):
            raise ValueError(f"{match['backend']} is not supported: use SQLite or Postgres")
        return value

    @field_validator("telegram_webhook_secret")
    @classmethod
    def _webhook_secret(cls, value: str | None) -> str | None:
        if value is not None and not _WEBHOOK_SECRET.fullmatch(value):
            raise ValueError("Telegram takes 1-256 characters: letters, digits, _ and -")
        return value or None

    @field_validator("secret_key", mode="before")
    @classmethod
    def _unset_when_empty(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("secret_key")
    @classmethod
    def _long_enough(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value()) < SECRET_KEY_MIN_LENGTH:
            raise ValueError(f"the key must be at least {SECRET_KEY_MIN_LENGTH} characters")
        return value

    @field_validator("admin_ids", mode="before")
    @classmethod
    def _admin_ids(cls, value: object) -> object:
        if not isinstance(value, str):
            return value
        from db.models import Platform  # the owner of the platform names; imported only when admins are set

        pairs = set()
        for item in (part.strip() for part in value.split(",") if part.strip()):
            match = _ADMIN.fullmatch(item.lower())
            if match is None or match["platform"] not in {platform.value for platform in Platform}:
                raise ValueError(f'"{item}" is not platform:id with platform {" or ".join(Platform)}')
            pairs.add((match["platform"], match["id"]))
        return frozenset(pairs)

    @field_validator("packs", mode="before")
    @classmethod
    def _packs(cls, value: object) -> object:
        return parse_packs(value) if isinstance(value, str) else value

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @field_validator("providers")
    @classmethod
    def _known_providers(cls, value: list[str]) -> list[str]:
        names = [p.lower() for p in value]
        for name in names:
            check_choice("each provider", name, tuple(PROVIDERS))
        return names

    def is_admin(self, platform: str, external_id: str | int) -> bool:
        return (str(platform), str(external_id)) in self.admin_ids

    @cached_property
    def resolved_secret_key(self) -> SecretBytes:
        """SWAPBOT_SECRET_KEY, or in the embedded mode the key kept beside the SQLite file (generated
        on first use). Resolved on first access, so commands that keep no users never need one;
        raises ``SecretKeyError`` (a ValueError) with Postgres and no key."""
        given = self.secret_key.get_secret_value() if self.secret_key else None
        return SecretBytes(resolve_secret_key(self.database_url, given))

    @classmethod
    def secret_fields(cls) -> dict[str, str]:
        """Field name -> what of it is secret: "value" (a token, a key) or "password" (of a URL)."""
        marks = {name: field.json_schema_extra for name, field in cls.model_fields.items()}
        return {
            name: str(mark["secret"])
            for name, mark in marks.items()
            if isinstance(mark, dict) and "secret" in mark
        }

    def secret_values(self) -> list[str]:
        """Every secret these settings hold, as configured: what no log line may show (the embedded
        mode's generated key is not among them: ``swapbot.wiring.derived_secrets``)."""
        values: list[str] = []
        for name, kind in self.secret_fields().items():
            value = getattr(self, name)
            if isinstance(value, SecretStr):
                value = value.get_secret_value()
            if value and kind == "password":
                password = urlsplit(value).password
                values += [password, unquote(password)] if password else []
            elif value:
                values.append(value)
        return values


# One example per variable, shown when its value is malformed.
EXAMPLES: dict[str, str] = {
    "DATABASE_URL": "postgresql+asyncpg://swapbot@localhost/swapbot",
    "SWAPBOT_SECRET_KEY": SECRET_KEY_EXAMPLE,
    "REDIS_URL": "redis://localhost:6379/0",
    "TELEGRAM_BOT_TOKEN": "123456789:AAE-token-from-BotFather",
    "TELEGRAM_API_URL": "https://api.telegram.org",
    "TELEGRAM_WEBHOOK_URL": "https://bot.example.org/telegram",
    "TELEGRAM_WEBHOOK_SECRET": "letters-digits_and-dashes",
    "TELEGRAM_PAYMENT_PROVIDER_TOKEN": "the Stripe token from @BotFather's Payments, e.g. 284685063:LIVE:...",
    "SWAPBOT_WEB_HOST": "0.0.0.0",
    "SWAPBOT_WEB_PORT": "8080",
    "SWAPBOT_RATE_BURST": "10",
    "SWAPBOT_RATE_PER_MINUTE": "30",
    "SWAPBOT_DAILY_CAP": "100",
    "DISCORD_BOT_TOKEN": "the bot token from the Discord developer portal",
    "DISCORD_API_URL": "https://discord.com/api/v10",
    "DISCORD_DEV_GUILD_ID": "the id of your test server, e.g. 1012345678901234567",
    "DISCORD_SYNC_COMMANDS": "true",
    "DISCORD_ATTACHMENT_HOSTS": "cdn.discordapp.com,media.discordapp.net",
    "SWAPBOT_ALLOW_PRIVATE_FETCH": "false",
    "STRIPE_SECRET_KEY": "sk_live_...",
    "STRIPE_WEBHOOK_SECRET": "whsec_...",
    "STRIPE_API_URL": "https://api.stripe.com",
    "STRIPE_SUCCESS_URL": "https://example.org/thanks",
    "STRIPE_CANCEL_URL": "https://example.org/cancelled",
    "SWAPBOT_TELEGRAM_STRIPE_CHECKOUT": "false",
    "OPENAI_API_KEY": "sk-...",
    "OPENAI_BASE_URL": "https://api.openai.com/v1",
    "OPENAI_IMAGE_MODEL": "gpt-image-1",
    "REPLICATE_API_TOKEN": "r8_...",
    "REPLICATE_BASE_URL": "https://api.replicate.com/v1",
    "REPLICATE_MODEL": "owner/model",
    "SWAPBOT_STYLIZER_TIMEOUT": "120",
    "SWAPBOT_ENGINE": "classic",
    "SWAPBOT_MODELS_DIR": "./models",
    "SWAPBOT_PROVIDERS": "cuda,cpu",
    "SWAPBOT_DETECTOR": "hog",
    "SWAPBOT_NSFW_POLICY": "block",
    "SWAPBOT_NSFW_THRESHOLD": "0.5",
    "SWAPBOT_DISCORD_NSFW_CHANNELS": "block",
    "SWAPBOT_ADMIN_IDS": "telegram:123,discord:456",
    "SWAPBOT_FREE_CREDITS": "3",
    "SWAPBOT_PACKS": PACKS_EXAMPLE,
    "SWAPBOT_TERMS_VERSION": "2026-12",
    "SWAPBOT_REPORT_BAN_THRESHOLD": "3",
    "SWAPBOT_RETENTION_HOURS": "24",
    "SWAPBOT_MAX_FACES": "20",
    "SWAPBOT_WORKER_CONCURRENCY": "8",
    "SWAPBOT_ENGINE_SLOTS": "1",
    "SWAPBOT_JOB_TIMEOUT": "120",
    "SWAPBOT_METRICS_PORT": "9100",
    "SWAPBOT_SHUTDOWN_GRACE": "120",
    "SWAPBOT_MAX_TRIES": "3",
    "SWAPBOT_LOST_AFTER": "60",
    "SWAPBOT_SWEEP_INTERVAL": "30",
    "SWAPBOT_QUEUED_MAX_AGE": "3600",
    "SWAPBOT_LOG_LEVEL": "INFO",
    "SWAPBOT_LOG_JSON": "true",
}

# Inputs never repeated in an error line: they may hold a token, a key or a password.
_HIDDEN = ("TOKEN", "KEY", "SECRET", "URL")


def error_lines(error: ValidationError) -> list[str]:
    """One line per malformed variable: its name, what is wrong and an example of a good value."""
    names = {name: field.alias or name for name, field in Settings.model_fields.items()}
    lines = []
    for item in error.errors(include_url=False):
        variable = str(item["loc"][0]) if item["loc"] else "settings"
        variable = names.get(variable, variable)
        if item["type"] == "value_error":  # our validators' messages already quote what they need
            problem = str(item["ctx"]["error"]) if "ctx" in item else item["msg"]
        elif any(word in variable for word in _HIDDEN):
            problem = _lower_first(item["msg"])
        else:
            problem = f'"{item["input"]}": {_lower_first(item["msg"])}'
        example = EXAMPLES.get(variable)
        lines.append(f"{variable}: {problem}" + (f"; example: {example}" if example else ""))
    return lines


def _lower_first(message: str) -> str:
    return message[:1].lower() + message[1:]
