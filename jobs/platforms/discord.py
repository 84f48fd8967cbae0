"""Discord plumbing: where discord.py sends its REST calls (set once, when a process is built), where a
bot opens its gateway websocket, and REST failures sorted by ``call``.

discord.py reads both addresses from class attributes (``Route.BASE``, ``DiscordWebSocket.
DEFAULT_GATEWAY``) and takes them from nowhere else, so moving them is a process-wide setting: it is
done here only, once, by the composition root (``DISCORD_PATCHED`` names what is set), and
tests/jobs/test_pinned_internals.py pins the discord.py version and that both are still where we set them.
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import TypeVar

import aiohttp
import discord
import yarl
from discord.gateway import DiscordWebSocket
from discord.http import HTTPClient, Route

from jobs.errors import ChatUnavailable, DeliveryError
from jobs.metrics import counted

T = TypeVar("T")

DISCORD_HOSTS = frozenset({"discord.com", "discordapp.com"})
DISCORD_PATCHED = ("discord.http.Route.BASE", "discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY")


def set_api_base(api_url: str) -> None:
    """discord.py builds every REST URL from one class attribute, for the whole process: a proxy or a
    test server moves it here, once, at start-up."""
    Route.BASE = api_url.rstrip("/")


async def point_gateway(http: HTTPClient) -> None:
    """discord.py opens its websocket at Discord's fixed gateway address without asking. An API that
    is not Discord's (a proxy, the tests' fake) is asked, as Discord's own API answers it, where its
    gateway is (GET /gateway/bot, logged in); a bot calls this once, after login, before connecting."""
    if yarl.URL(Route.BASE).host in DISCORD_HOSTS:
        return
    _, url, _ = await http.get_bot_gateway()
    DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(url)


async def call(request: Awaitable[T]) -> T:
    """One REST call; 5xx, rate limits and the network are "later" (DeliveryError), other refusals
    "never" (ChatUnavailable). Forbidden and NotFound are left to the caller, which falls back
    (followup -> channel -> DM) or gives up."""
    try:
        return await counted("discord", error_code, request)
    except discord.RateLimited as exc:
        raise DeliveryError("discord rate limit", retry_after=exc.retry_after) from exc
    except (discord.Forbidden, discord.NotFound):
        raise
    except discord.DiscordServerError as exc:
        raise DeliveryError(f"discord: {exc.status} {exc.text}") from exc
    except discord.HTTPException as exc:
        if exc.status == 429:
            retry = exc.response.headers.get("Retry-After") if exc.response is not None else None
            raise DeliveryError("discord rate limit", retry_after=float(retry) if retry else None) from exc
        raise ChatUnavailable(f"discord refused the message: {exc.status} {exc.text}") from exc
    except (aiohttp.ClientError, TimeoutError, OSError) as exc:
        raise DeliveryError(f"discord unreachable: {type(exc).__name__}") from exc


def error_code(exc: BaseException) -> str:
    """The metrics' code label: the HTTP status Discord answered with, or "network"."""
    if isinstance(exc, discord.RateLimited):
        return "429"
    if isinstance(exc, discord.HTTPException):
        return str(exc.status)
    if isinstance(exc, aiohttp.ClientError | TimeoutError | OSError):
        return "network"
    return "other"
