"""The checks ``swapbot doctor`` runs, one function per part; each returns its findings.

Secrets are never printed: a token's or key's findings say what is wrong with its form, and error
messages from HTTP clients are stripped of the token before they are shown.
"""

from __future__ import annotations

from typing import Any

import httpx

from db.session import is_sqlite
from engine.choices import RESTORER_MODELS
from swapbot import credentials, secret_key
from swapbot.findings import Check, Finding, Loaded, Options, Status, sqlite_path

FAIL, WARN, OK, SKIP = Status.FAIL, Status.WARN, Status.OK, Status.SKIP
UPGRADE = "run `swapbot db upgrade` (the compose file's `migrate` service)"


async def settings_check(loaded: Loaded, options: Options) -> list[Finding]:
    settings = loaded.settings
    found = [
        Finding(FAIL, "settings", line, "set a valid value (an example ends the line)")
        for line in loaded.errors
    ]
    key_file = secret_key.key_file(settings.database_url)
    if settings.secret_key is None and not is_sqlite(settings.database_url):
        found.append(
            Finding(
                FAIL,
                "settings",
                "SWAPBOT_SECRET_KEY is unset, and Postgres has no file beside it to keep a generated one",
                "set it once and never change it: python -c 'import secrets; print(secrets.token_hex(32))'",
            )
        )
    elif settings.secret_key is None and key_file is not None:
        state = "kept in" if key_file.is_file() else "generated on first use into"
        found.append(Finding(OK, "settings", f"SWAPBOT_SECRET_KEY unset: {state} {key_file}", "back it up"))
    if not settings.telegram_bot_token and not settings.discord_bot_token:
        found.append(
            Finding(WARN, "settings", "neither TELEGRAM_BOT_TOKEN nor DISCORD_BOT_TOKEN is set: no bot runs")
        )
    if not loaded.errors:
        found.insert(0, Finding(OK, "settings", "every variable is well formed"))
    return found


async def database_check(loaded: Loaded, options: Options) -> list[Finding]:
    from alembic.script import ScriptDirectory
    from sqlalchemy import text
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import DBAPIError, SQLAlchemyError
    from sqlalchemy.ext.asyncio import create_async_engine

    from db.migrate import alembic_config

    url = loaded.settings.database_url
    where = make_url(url).render_as_string(hide_password=True)
    file = sqlite_path(url)
    sqlite = is_sqlite(url)
    # SQLite bots migrate at start (`swapbot telegram`, `web`, `run`); Postgres needs `db upgrade`.
    behind = WARN if sqlite else FAIL
    if file is not None and not file.is_file():
        return [Finding(behind, "database", f"no database file at {file} yet", UPGRADE)]
    heads = ScriptDirectory.from_config(alembic_config()).get_heads()
    connect_args: dict[str, Any] = {} if sqlite else {"timeout": options.timeout_s}
    engine = create_async_engine(url, connect_args=connect_args)
    try:
        async with engine.connect() as connection:
            await connection.execute(text("SELECT 1"))
            try:
                rows = (await connection.execute(text("SELECT version_num FROM alembic_version"))).all()
            except DBAPIError:
                rows = None
    except (SQLAlchemyError, OSError, TimeoutError) as exc:
        return [
            Finding(
                FAIL,
                "database",
                f"{where} does not answer: {_first_line(exc)}",
                "start the database, or fix DATABASE_URL",
            )
        ]
    finally:
        await engine.dispose()
    current = sorted(row[0] for row in rows) if rows else []
    if not current:
        return [Finding(behind, "database", f"{where} answers but has no schema", UPGRADE)]
    if current == sorted(heads):
        return [Finding(OK, "database", f"{where} answers, at the migration head {', '.join(current)}")]
    known = {script.revision for script in ScriptDirectory.from_config(alembic_config()).walk_revisions()}
    unknown = [revision for revision in current if revision not in known]
    if unknown:
        return [
            Finding(
                FAIL,
                "database",
                f"at {', '.join(unknown)}: a revision this release does not know (a newer one migrated it)",
                "run the swapbot release that migrated it",
            )
        ]
    return [Finding(behind, "database", f"at {', '.join(current)}, the head is {', '.join(heads)}", UPGRADE)]


async def redis_check(loaded: Loaded, options: Options) -> list[Finding]:
    from redis.asyncio import Redis
    from redis.exceptions import RedisError

    url = loaded.settings.redis_url
    if not url:
        return [Finding(SKIP, "redis", "REDIS_URL unset: jobs run inside the bot process")]
    client = Redis.from_url(url, socket_connect_timeout=options.timeout_s, socket_timeout=options.timeout_s)
    try:
        await client.ping()
    except (RedisError, OSError) as exc:
        return [
            Finding(
                FAIL,
                "redis",
                f"REDIS_URL does not answer: {_first_line(exc)}",
                "start Redis, or fix REDIS_URL",
            )
        ]
    finally:
        await client.aclose()
    return [Finding(OK, "redis", "REDIS_URL answers PING")]


# What each engine loads; caricatures need the classic landmarks whatever the engine.
_CLASSIC = ("shape_predictor_68_face_landmarks", "dlib_face_recognition_resnet_model_v1")
_ONNX = ("det_10g", "w600k_r50", "inswapper_128")
_RESTORERS = tuple(RESTORER_MODELS.values())  # only for "enhance": missing ones are a warning


async def models_check(loaded: Loaded, options: Options) -> list[Finding]:
    import asyncio

    from engine.models.fetch import status
    from engine.models.registry import path_of

    settings = loaded.settings
    needed = set(_CLASSIC)
    if settings.detector == "cnn":
        needed.add("mmod_human_face_detector")
    if settings.engine == "onnx":
        needed.update(_ONNX)
    found = []
    # Hashing 1.5 GB takes seconds: off the event loop.
    entries = await asyncio.to_thread(status, settings.models_dir, verify=options.verify)
    for entry in entries:
        model = entry.spec
        if model.name == _GUARD:
            found.append(_guard_finding(entry, settings))
            continue
        if model.name not in needed and model.name not in _RESTORERS:
            continue
        path = path_of(model, settings.models_dir)
        refetch = (
            f"pip install --force-reinstall {model.package.replace('_', '-')}"
            if model.bundled
            else f"swapbot models fetch {model.name}"
        )
        if not entry.present:
            if model.name in needed:
                found.append(Finding(FAIL, "models", f"{model.name} missing: {path}", refetch))
            else:
                found.append(
                    Finding(WARN, "models", f"{model.name} missing: enhancing with it is refused", refetch)
                )
        elif entry.verified is False:
            found.append(
                Finding(
                    FAIL,
                    "models",
                    f"{model.name} has the wrong checksum or size: {path}",
                    f"delete it, {refetch}",
                )
            )
        else:
            how = "checksum verified" if entry.verified else "present (not hashed)"
            found.append(Finding(OK, "models", f"{model.name}: {how}"))
    return found


_GUARD = "nudenet"  # engine.safety.guard.GUARD_MODEL, named here so doctor imports no OpenCV


def _guard_finding(entry: Any, settings: Any) -> Finding:
    """The content guard: on, or off by policy, or off because its model file is missing (a warning:
    the worker still runs, unguarded)."""
    if settings.nsfw_policy == "off":
        return Finding(OK, "models", "content guard off (SWAPBOT_NSFW_POLICY=off)")
    refetch = f"swapbot models fetch {_GUARD}"
    if not entry.present:
        return Finding(WARN, "models", "guard off: the nudenet model file is missing", refetch)
    if entry.verified is False:
        return Finding(FAIL, "models", "nudenet has the wrong checksum or size", f"delete it, {refetch}")
    return Finding(OK, "models", f"content guard on (nudenet, blocks at {settings.nsfw_threshold:g})")


async def providers_check(loaded: Loaded, options: Options) -> list[Finding]:
    from swapbot.providers import usable_providers

    settings = loaded.settings
    try:
        usable = usable_providers(settings.providers)
    except ImportError:
        status = FAIL if settings.engine == "onnx" or options.require_gpu else SKIP
        return [
            Finding(status, "providers", "onnxruntime is not installed", 'pip install ".[gpu]" or ".[cpu]"')
        ]
    asked = ",".join(settings.providers)
    really = ",".join(usable) or "none"
    gpus = [name for name in settings.providers if name != "cpu"]
    first_gpu_works = bool(gpus) and gpus[0] in usable
    if options.require_gpu and not gpus:
        return [
            Finding(
                FAIL, "providers", f"SWAPBOT_PROVIDERS={asked} asks for no GPU", "SWAPBOT_PROVIDERS=cuda,cpu"
            )
        ]
    if gpus and not first_gpu_works:
        detail = f"SWAPBOT_PROVIDERS={asked}, but only {really} really run here: {gpus[0]} is not available"
        if not options.require_gpu and settings.engine != "onnx":  # classic swaps; only restorers use it
            return [Finding(OK, "providers", f"{detail} (the classic engine runs on the CPU anyway)")]
        fix = "install onnxruntime-gpu (the gpu extra) and give the container the GPU (NVIDIA runtime)"
        return [Finding(FAIL if options.require_gpu else WARN, "providers", detail, fix)]
    return [Finding(OK, "providers", f"SWAPBOT_PROVIDERS={asked}; really run here: {really}")]


async def telegram_check(loaded: Loaded, options: Options) -> list[Finding]:
    token = loaded.settings.telegram_bot_token
    if not token:
        return [Finding(SKIP, "telegram", "TELEGRAM_BOT_TOKEN unset: no Telegram bot")]
    problem = credentials.telegram_token_problem(token)
    if problem:
        return [
            Finding(
                FAIL, "telegram", f"TELEGRAM_BOT_TOKEN: {problem}", "copy it again from @BotFather (/token)"
            )
        ]
    url = f"{loaded.settings.telegram_api_url.rstrip('/')}/bot{token}/getMe"
    answer = await _get(url, {}, token, options)
    if isinstance(answer, str):
        return [
            Finding(WARN, "telegram", f"token well formed; getMe not answered: {answer}", "check the network")
        ]
    if answer.status_code in (401, 404):  # the Bot API answers 404 for a token it does not know
        return [
            Finding(
                FAIL,
                "telegram",
                f"Telegram refused TELEGRAM_BOT_TOKEN (getMe: {answer.status_code})",
                "copy the current token from @BotFather (/token); revoked tokens stop working",
            )
        ]
    if answer.status_code != 200:
        return [Finding(WARN, "telegram", f"token well formed; getMe answered {answer.status_code}")]
    username = answer.json().get("result", {}).get("username", "?")
    return [Finding(OK, "telegram", f"getMe: @{username}")]


async def discord_check(loaded: Loaded, options: Options) -> list[Finding]:
    token = loaded.settings.discord_bot_token
    if not token:
        return [Finding(SKIP, "discord", "DISCORD_BOT_TOKEN unset: no Discord bot")]
    problem = credentials.discord_token_problem(token)
    if problem:
        return [
            Finding(
                FAIL,
                "discord",
                f"DISCORD_BOT_TOKEN: {problem}",
                "Developer Portal -> your app -> Bot -> Reset Token",
            )
        ]
    url = f"{loaded.settings.discord_api_url.rstrip('/')}/users/@me"
    answer = await _get(url, {"Authorization": f"Bot {token}"}, token, options)
    if isinstance(answer, str):
        return [
            Finding(
                WARN, "discord", f"token well formed; /users/@me not answered: {answer}", "check the network"
            )
        ]
    if answer.status_code == 401:
        return [
            Finding(
                FAIL,
                "discord",
                "Discord refused DISCORD_BOT_TOKEN (/users/@me: 401)",
                "Developer Portal -> your app -> Bot -> Reset Token",
            )
        ]
    if answer.status_code != 200:
        return [Finding(WARN, "discord", f"token well formed; /users/@me answered {answer.status_code}")]
    return [Finding(OK, "discord", f"/users/@me: {answer.json().get('username', '?')}")]


async def stripe_check(loaded: Loaded, options: Options) -> list[Finding]:
    settings = loaded.settings
    key, secret = settings.stripe_secret_key, settings.stripe_webhook_secret
    provider = settings.telegram_payment_provider_token
    found: list[Finding] = []
    if key:
        problem = credentials.stripe_key_problem(key)
        if problem:
            found.append(
                Finding(
                    FAIL,
                    "stripe",
                    f"STRIPE_SECRET_KEY: {problem}",
                    "Stripe dashboard -> Developers -> API keys",
                )
            )
        else:
            found.append(Finding(OK, "stripe", f"STRIPE_SECRET_KEY: {credentials.stripe_key_mode(key)} mode"))
        if not (settings.stripe_success_url and settings.stripe_cancel_url):
            found.append(
                Finding(
                    WARN,
                    "stripe",
                    "no Checkout links: STRIPE_SUCCESS_URL and STRIPE_CANCEL_URL are needed too",
                )
            )
        elif not secret:
            found.append(
                Finding(
                    FAIL,
                    "stripe",
                    "Checkout links are offered, STRIPE_WEBHOOK_SECRET is unset: paid sessions never credit",
                    "add the endpoint https://<host>/stripe/webhook in Stripe and set its whsec_ secret",
                )
            )
    if secret:
        problem = credentials.stripe_webhook_secret_problem(secret)
        if problem:
            found.append(Finding(FAIL, "stripe", f"STRIPE_WEBHOOK_SECRET: {problem}"))
        else:
            found.append(Finding(OK, "stripe", "STRIPE_WEBHOOK_SECRET: a signing secret"))
    if provider:
        mode = credentials.provider_token_mode(provider)
        if mode is None:
            found.append(
                Finding(
                    WARN,
                    "stripe",
                    "TELEGRAM_PAYMENT_PROVIDER_TOKEN: not <id>:TEST:... or <id>:LIVE:...",
                    "@BotFather -> Payments",
                )
            )
        else:
            found.append(Finding(OK, "stripe", f"TELEGRAM_PAYMENT_PROVIDER_TOKEN: {mode} mode"))
        key_mode = credentials.stripe_key_mode(key) if key else None
        if mode and key_mode and mode != key_mode:
            found.append(
                Finding(
                    WARN,
                    "stripe",
                    f"Telegram's provider is in {mode} mode, the Stripe key in {key_mode} mode",
                )
            )
    return found or [Finding(SKIP, "stripe", "no Stripe settings: credits come from Stars and admins")]


async def webhooks_check(loaded: Loaded, options: Options) -> list[Finding]:
    from bot.telegram.app import WEBHOOK_PATH

    settings = loaded.settings
    found = []
    url = settings.telegram_webhook_url
    if not url:
        found.append(Finding(SKIP, "webhooks", "TELEGRAM_WEBHOOK_URL unset: the Telegram bot polls"))
    elif problem := credentials.https_url_problem(url):
        found.append(
            Finding(FAIL, "webhooks", f"TELEGRAM_WEBHOOK_URL {problem}", f"https://<host>{WEBHOOK_PATH}")
        )
    elif problem := credentials.https_url_problem(url, path_suffix=WEBHOOK_PATH):
        found.append(
            Finding(
                WARN, "webhooks", f"TELEGRAM_WEBHOOK_URL: {problem}", "fine only if a proxy rewrites the path"
            )
        )
    else:
        found.append(Finding(OK, "webhooks", f"TELEGRAM_WEBHOOK_URL: https, ends with {WEBHOOK_PATH}"))
    if url and not settings.telegram_bot_token:
        found.append(Finding(FAIL, "webhooks", "TELEGRAM_WEBHOOK_URL is set without TELEGRAM_BOT_TOKEN"))
    for name, value in (
        ("STRIPE_SUCCESS_URL", settings.stripe_success_url),
        ("STRIPE_CANCEL_URL", settings.stripe_cancel_url),
    ):
        if value and (problem := credentials.https_url_problem(value)):
            found.append(Finding(WARN, "webhooks", f"{name} {problem}", "live mode wants an https page"))
    return found


async def _get(url: str, headers: dict[str, str], secret: str, options: Options) -> httpx.Response | str:
    """The answer, or why there was none (a network failure, never the secret)."""
    try:
        async with httpx.AsyncClient(timeout=options.timeout_s) as client:
            return await client.get(url, headers=headers)
    except httpx.HTTPError as exc:
        return f"{type(exc).__name__}: {_first_line(exc)}".replace(secret, "<token>")


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


CHECKS: dict[str, Check] = {
    "settings": settings_check,
    "database": database_check,
    "redis": redis_check,
    "models": models_check,
    "providers": providers_check,
    "telegram": telegram_check,
    "discord": discord_check,
    "stripe": stripe_check,
    "webhooks": webhooks_check,
}
