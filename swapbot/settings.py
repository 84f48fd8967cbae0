"""The one configuration object: built once at start-up from the environment and ``.env``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


def _split_csv(value: object) -> object:
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", populate_by_name=True
    )

    database_url: str = Field("sqlite+aiosqlite:///./swapbot.db", alias="DATABASE_URL")
    redis_url: str | None = Field(None, alias="REDIS_URL")

    telegram_bot_token: str | None = Field(None, alias="TELEGRAM_BOT_TOKEN")
    telegram_api_url: str = Field("https://api.telegram.org", alias="TELEGRAM_API_URL")
    telegram_webhook_url: str | None = Field(None, alias="TELEGRAM_WEBHOOK_URL")
    telegram_webhook_secret: str | None = Field(None, alias="TELEGRAM_WEBHOOK_SECRET")

    discord_bot_token: str | None = Field(None, alias="DISCORD_BOT_TOKEN")
    discord_api_url: str = Field("https://discord.com/api/v10", alias="DISCORD_API_URL")

    stripe_secret_key: str | None = Field(None, alias="STRIPE_SECRET_KEY")
    stripe_webhook_secret: str | None = Field(None, alias="STRIPE_WEBHOOK_SECRET")
    stripe_api_url: str = Field("https://api.stripe.com", alias="STRIPE_API_URL")

    openai_api_key: str | None = Field(None, alias="OPENAI_API_KEY")
    openai_base_url: str | None = Field(None, alias="OPENAI_BASE_URL")
    openai_image_model: str = Field("gpt-image-1", alias="OPENAI_IMAGE_MODEL")
    replicate_api_token: str | None = Field(None, alias="REPLICATE_API_TOKEN")
    replicate_base_url: str | None = Field(None, alias="REPLICATE_BASE_URL")
    replicate_model: str | None = Field(None, alias="REPLICATE_MODEL")
    stylizer_timeout_s: float = Field(120.0, alias="SWAPBOT_STYLIZER_TIMEOUT")

    engine: Literal["classic", "onnx"] = Field("classic", alias="SWAPBOT_ENGINE")
    models_dir: Path = Field(Path("./models"), alias="SWAPBOT_MODELS_DIR")
    providers: Annotated[list[str], NoDecode] = Field(["cuda", "cpu"], alias="SWAPBOT_PROVIDERS")
    detector: Literal["hog", "cnn"] = Field("hog", alias="SWAPBOT_DETECTOR")

    admin_ids: Annotated[list[str], NoDecode] = Field([], alias="SWAPBOT_ADMIN_IDS")
    free_credits: int = Field(3, ge=0, alias="SWAPBOT_FREE_CREDITS")
    packs: str = Field("10:100,50:450,200:1500", alias="SWAPBOT_PACKS")
    retention_hours: float = Field(24.0, gt=0, alias="SWAPBOT_RETENTION_HOURS")

    worker_concurrency: int = Field(8, ge=1, alias="SWAPBOT_WORKER_CONCURRENCY")
    engine_slots: int = Field(1, ge=1, alias="SWAPBOT_ENGINE_SLOTS")
    job_timeout_s: float = Field(120.0, gt=0, alias="SWAPBOT_JOB_TIMEOUT")
    max_tries: int = Field(3, ge=1, alias="SWAPBOT_MAX_TRIES")

    log_level: str = Field("INFO", alias="SWAPBOT_LOG_LEVEL")
    log_json: bool = Field(False, alias="SWAPBOT_LOG_JSON")

    @field_validator("providers", "admin_ids", mode="before")
    @classmethod
    def _csv(cls, value: object) -> object:
        return _split_csv(value)

    @field_validator("providers")
    @classmethod
    def _known_providers(cls, value: list[str]) -> list[str]:
        known = {"tensorrt", "cuda", "coreml", "cpu"}
        unknown = [p for p in value if p.lower() not in known]
        if unknown:
            raise ValueError(f"unknown provider(s) {unknown}; choose from {sorted(known)}")
        return [p.lower() for p in value]
