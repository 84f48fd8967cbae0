"""Inputs fetched by reference, where they live: Telegram (getFile, then the file download through the
configured Bot API server), a URL (Discord attachments), or a local path. Sizes are capped while
downloading, so a huge file is refused without being held in memory. URLs are fetched only as
``jobs.url_guard`` allows (the attachment hosts, public addresses), redirects included."""

from __future__ import annotations

import asyncio
import io
from pathlib import Path

import aiohttp
from aiogram import Bot
from aiogram.exceptions import TelegramBadRequest
from aiohttp.abc import AbstractResolver
from yarl import URL

from engine.imageio import MAX_FILE_BYTES
from jobs.config import UrlPolicy
from jobs.errors import (
    ChatUnavailable,
    DeliveryError,
    InputRefused,
    InputTooLarge,
    InputUnavailable,
    JobFailure,
)
from jobs.platforms.telegram import call as telegram_call
from jobs.request import InputRef
from jobs.url_guard import GuardedResolver, check_url

_GONE = frozenset({400, 401, 403, 404, 410})  # refused for good: expired Discord links answer 403/404
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
MAX_REDIRECTS = 3  # Discord's CDN answers directly; a chain this long is not an attachment


class _Capped(io.BytesIO):
    """A download buffer that stops the transfer as soon as it exceeds ``limit`` bytes."""

    def __init__(self, limit: int) -> None:
        super().__init__()
        self.limit = limit

    def write(self, data: bytes) -> int:  # type: ignore[override]
        if self.tell() + len(data) > self.limit:
            raise InputTooLarge(self.tell() + len(data), self.limit)
        return super().write(data)


class InputFetcher:
    """``url_policy``: where URL inputs may come from; ``resolver``: the DNS the guard checks (the
    system's unless a test fakes it)."""

    def __init__(
        self,
        *,
        telegram: Bot | None = None,
        max_bytes: int = MAX_FILE_BYTES,
        timeout_s: float = 30.0,
        url_policy: UrlPolicy | None = None,
        resolver: AbstractResolver | None = None,
    ) -> None:
        self.telegram = telegram
        self.max_bytes = max_bytes
        self.timeout_s = timeout_s
        self.url_policy = url_policy or UrlPolicy()
        self._resolver = resolver
        self._http: aiohttp.ClientSession | None = None

    async def fetch(self, ref: InputRef) -> bytes:
        if ref.kind == "telegram":
            return await self._telegram(ref.ref)
        if ref.kind == "url":
            return await self._url(ref.ref)
        return await asyncio.to_thread(self._local, Path(ref.ref))

    async def close(self) -> None:
        if self._http is not None:
            await self._http.close()
            self._http = None

    async def _telegram(self, file_id: str) -> bytes:
        if self.telegram is None:
            raise JobFailure("no_telegram", "this worker has no Telegram bot token", transient=False)
        try:
            file = await telegram_call(self.telegram.get_file(file_id))
        except TelegramBadRequest as exc:  # an unknown or foreign file_id
            raise InputUnavailable(f"telegram: {exc.message}") from exc
        except ChatUnavailable as exc:
            raise InputUnavailable(exc.detail) from exc
        except DeliveryError as exc:
            raise JobFailure(
                "input_fetch_failed", exc.detail, transient=True, retry_after=exc.retry_after
            ) from exc
        if file.file_size is not None and file.file_size > self.max_bytes:
            raise InputTooLarge(file.file_size, self.max_bytes)
        if not file.file_path:
            raise InputUnavailable("telegram gave no path for the file")
        buffer = _Capped(self.max_bytes)
        try:
            await self.telegram.download_file(file.file_path, buffer, timeout=int(self.timeout_s))
        except aiohttp.ClientResponseError as exc:
            raise _http_failure(exc.status, "telegram file download") from exc
        return buffer.getvalue()

    async def _url(self, url: str) -> bytes:
        if self._http is None:
            # trust_env off: a proxy from the environment would connect for us, past the resolver's check.
            self._http = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(resolver=GuardedResolver(self.url_policy, self._resolver)),
                timeout=aiohttp.ClientTimeout(total=self.timeout_s),
                trust_env=False,
            )
        target = URL(url)
        for _ in range(MAX_REDIRECTS + 1):
            check_url(target, self.url_policy)
            async with self._http.get(target, allow_redirects=False) as response:
                if response.status in _REDIRECTS and "Location" in response.headers:
                    target = target.join(URL(response.headers["Location"]))
                    continue
                if response.status != 200:
                    raise _http_failure(response.status, "download")
                if response.content_length is not None and response.content_length > self.max_bytes:
                    raise InputTooLarge(response.content_length, self.max_bytes)
                buffer = _Capped(self.max_bytes)
                async for chunk in response.content.iter_chunked(1 << 16):
                    buffer.write(chunk)
            return buffer.getvalue()
        raise InputRefused(f"more than {MAX_REDIRECTS} redirects")

    def _local(self, path: Path) -> bytes:
        try:
            size = path.stat().st_size
            if size > self.max_bytes:
                raise InputTooLarge(size, self.max_bytes)
            return path.read_bytes()
        except (FileNotFoundError, IsADirectoryError, PermissionError) as exc:
            raise InputUnavailable(f"cannot read the input file: {exc.strerror}") from exc


def _http_failure(status: int, what: str) -> JobFailure:
    if status in _GONE:
        return InputUnavailable(f"{what} answered {status}")
    return JobFailure("input_fetch_failed", f"{what} answered {status}", transient=True)
