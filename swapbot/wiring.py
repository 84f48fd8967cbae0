"""Settings -> each layer's config: the one place that reads ``Settings`` for engine/, jobs/ and bot/.

Pure mapping: nothing here opens a connection, loads a model or logs (``result_markups`` makes the bots'
picker buttons, the one thing that is more than configuration). The bots (swapbot/bots.py), the
web process (swapbot/web.py) and the commands (swapbot/cli.py) build their parts from these.
"""

from __future__ import annotations

import hashlib
import hmac

from bot.ratelimit import Limits
from bot.services import BotConfig, StripeAccount, StripeCheckoutConfig
from bot.texts import Catalogue
from engine.choices import LOCAL_STYLES, RESTORER_MODELS, RESTORERS
from engine.factory import EngineSpec, StylizerSpec
from engine.safety.settings import GuardSpec
from jobs.config import DiscordConfig, QueueConfig, TelegramConfig, UrlPolicy, WorkerConfig
from jobs.notify import ResultMarkup
from swapbot.settings import Settings


def engine_spec(settings: Settings, name: str | None = None) -> EngineSpec:
    """The one mapping from settings to the engine's spec (CLI and workers); ``name`` overrides it."""
    return EngineSpec(
        name=name or settings.engine,
        models_dir=settings.models_dir,
        providers=tuple(settings.providers),
        detector=settings.detector,
        stylizers=StylizerSpec(
            openai_api_key=settings.openai_api_key,
            openai_base_url=settings.openai_base_url,
            openai_model=settings.openai_image_model,
            replicate_api_token=settings.replicate_api_token,
            replicate_base_url=settings.replicate_base_url,
            replicate_model=settings.replicate_model,
            timeout=settings.stylizer_timeout_s,
        ),
        guard=GuardSpec(settings.nsfw_policy, settings.nsfw_threshold, settings.discord_nsfw_channels),
    )


def platform_configs(settings: Settings) -> tuple[TelegramConfig | None, DiscordConfig | None]:
    """The Telegram and Discord API configs jobs/ takes, each None when its bot token is unset."""
    telegram = (
        TelegramConfig(settings.telegram_bot_token, settings.telegram_api_url)
        if settings.telegram_bot_token
        else None
    )
    discord = (
        DiscordConfig(settings.discord_bot_token, settings.discord_api_url)
        if settings.discord_bot_token
        else None
    )
    return telegram, discord


def telegram_config(settings: Settings) -> TelegramConfig:
    """The Telegram bot's API config; ValueError without TELEGRAM_BOT_TOKEN."""
    telegram, _ = platform_configs(settings)
    if telegram is None:
        raise ValueError("TELEGRAM_BOT_TOKEN is not set: there is no Telegram bot to run")
    return telegram


def worker_config(settings: Settings) -> WorkerConfig:
    """Map the settings onto the plain values jobs/ takes (it never imports the settings module)."""
    telegram, discord = platform_configs(settings)
    return WorkerConfig(
        database_url=settings.database_url,
        queue=QueueConfig(
            redis_url=settings.redis_url,
            concurrency=settings.worker_concurrency,
            engine_slots=settings.engine_slots,
            job_timeout_s=settings.job_timeout_s,
            max_tries=settings.max_tries,
            retention_hours=settings.retention_hours,
            max_faces=settings.max_faces,
            lost_after_s=settings.lost_after_s,
            sweep_interval_s=settings.sweep_interval_s,
            queued_max_age_s=settings.queued_max_age_s,
            shutdown_grace_s=settings.shutdown_grace_s,
        ),
        engine=engine_spec(settings),
        telegram=telegram,
        discord=discord,
        urls=UrlPolicy(frozenset(settings.discord_attachment_hosts), settings.allow_private_fetch),
        metrics_port=settings.metrics_port,
    )


def caricature_styles(settings: Settings) -> tuple[str, ...]:
    """Local styles always; a remote one only when its service is set up."""
    remote = []
    if settings.openai_api_key:
        remote.append("openai")
    if settings.replicate_api_token and settings.replicate_model:
        remote.append("replicate")
    return (*LOCAL_STYLES, *remote)


def restorers(settings: Settings) -> tuple[str, ...]:
    """The restorers whose model files are in SWAPBOT_MODELS_DIR (the paths are checked; nothing is
    loaded)."""
    from engine.models.registry import path_of, spec  # the registry's tables, only when a bot starts

    return tuple(
        name for name in RESTORERS if path_of(spec(RESTORER_MODELS[name]), settings.models_dir).is_file()
    )


def limits(settings: Settings) -> Limits:
    return Limits(
        burst=settings.rate_burst, per_minute=settings.rate_per_minute, daily_cap=settings.daily_cap
    )


def stripe_account(settings: Settings) -> StripeAccount | None:
    """The Stripe API (card refunds) whenever STRIPE_SECRET_KEY is set, Checkout or not."""
    if not settings.stripe_secret_key:
        return None
    return StripeAccount(settings.stripe_secret_key, settings.stripe_api_url)


def stripe_checkout(settings: Settings) -> StripeCheckoutConfig | None:
    """Stripe Checkout when its key and both return URLs are set; None otherwise."""
    key, success, cancel = settings.stripe_secret_key, settings.stripe_success_url, settings.stripe_cancel_url
    if not (key and success and cancel):
        return None
    return StripeCheckoutConfig(
        secret_key=key,
        success_url=success,
        cancel_url=cancel,
        api_url=settings.stripe_api_url,
        telegram_checkout=settings.telegram_stripe_checkout,
    )


def bot_config(settings: Settings) -> BotConfig:
    """What the bot layer needs of the settings; raises ``SecretKeyError`` without a usable key."""
    return BotConfig(
        secret_key=settings.resolved_secret_key.get_secret_value(),
        free_credits=settings.free_credits,
        admins=settings.admin_ids,
        packs=settings.packs,
        retention_hours=settings.retention_hours,
        terms_version=settings.terms_version,
        report_ban_threshold=settings.report_ban_threshold,
        caricature_styles=caricature_styles(settings),
        restorers=restorers(settings),
        stripe_provider_token=settings.telegram_payment_provider_token or None,
        stripe=stripe_checkout(settings),
        stripe_account=stripe_account(settings),
    )


def webhook_secret(settings: Settings) -> str:
    """TELEGRAM_WEBHOOK_SECRET, or one derived from SWAPBOT_SECRET_KEY (stable across restarts and
    processes, never guessable)."""
    if settings.telegram_webhook_secret:
        return settings.telegram_webhook_secret
    key = settings.resolved_secret_key.get_secret_value()
    return hmac.new(key, b"telegram-webhook", hashlib.sha256).hexdigest()


def derived_secrets(settings: Settings) -> list[str]:
    """The secrets a process makes rather than reads (the embedded mode's generated key, the webhook
    secret derived from it): what no log line may show, beside ``Settings.secret_values``. Resolves
    the key (``SecretKeyError`` where it cannot be had)."""
    values = [settings.resolved_secret_key.get_secret_value().decode("ascii", errors="replace")]
    if settings.telegram_webhook_url:
        values.append(webhook_secret(settings))
    return values


def result_markups(settings: Settings, texts: Catalogue) -> dict[str, ResultMarkup]:
    """The face pickers' buttons that a process's workers put on numbered previews, per platform with a
    bot token (the Discord ones signed with the secret key). Discord's imports discord.py, so only when
    configured."""
    markups: dict[str, ResultMarkup] = {}
    if settings.telegram_bot_token:
        from bot.telegram.keyboards import PickerMarkup

        markups["telegram"] = PickerMarkup(texts)
    if settings.discord_bot_token:
        from bot.discord.picker import PickerMarkup as DiscordPickerMarkup

        markups["discord"] = DiscordPickerMarkup(texts, settings.resolved_secret_key.get_secret_value())
    return markups
