"""Discord delivery through discord.py's REST machinery (no gateway connection: a worker only posts).

While the interaction token is valid (15 minutes from the command) the result is a followup of the
interaction and the status message is its original response, edited in place. After that the result
goes to the channel as a bot message, and to the user's DMs when the bot may not post there. The REST
base URL is the process's (``jobs.platforms.discord.set_api_base``, set where the process is built).
"""

from __future__ import annotations

import asyncio
import io
from datetime import timedelta
from typing import Any

import aiohttp
import discord
from discord.http import HTTPClient, Route, handle_message_parameters

from db.base import utcnow
from jobs.config import DiscordConfig
from jobs.errors import ChatUnavailable
from jobs.notify import ResultMarkup, Target
from jobs.platforms.discord import call
from jobs.results import Result, fit_upload

RESULT_NAME = "result.jpg"
# A followup needs the token for the whole upload: do not start one this close to its expiry.
TOKEN_MARGIN = timedelta(seconds=30)


class DiscordNotifier:
    platform = "discord"

    def __init__(self, config: DiscordConfig, markup: ResultMarkup | None = None) -> None:
        self.config = config
        self.markup = markup  # a numbered preview's picker buttons (a discord.ui.View), from the bot
        self._application_id = config.application_id
        self._http: HTTPClient | None = None
        self._session: aiohttp.ClientSession | None = None
        self._lock = asyncio.Lock()

    async def status(self, target: Target, text: str) -> None:
        if target.delivery.message is None or not self._followup_open(target):
            return  # after the token expires the original response cannot be edited any more
        webhook = await self._webhook(target)
        try:
            await call(webhook.edit_message(int(target.delivery.message), content=text))
        except discord.NotFound:
            return  # the status message was deleted: nothing to update
        except discord.Forbidden as exc:
            raise ChatUnavailable(f"discord: {exc.text}") from exc

    async def notice(self, target: Target, text: str) -> None:
        if target.delivery.message is not None and self._followup_open(target):
            await self.status(target, text)
            return
        await self._post(target, text, None)

    async def deliver(self, target: Target, result: Result, caption: str) -> str:
        # A full-size document can pass Discord's upload limit: such a result is re-encoded to fit.
        data = await asyncio.to_thread(fit_upload, result.data, self.config.upload_limit_bytes)
        # A numbered preview shows every face of someone's photo: only its asker sees it, with the
        # picker's buttons on the same message.
        if result.face_count is None:
            return await self._post(target, caption, data)
        view = self.markup(target, result.face_count) if self.markup is not None else None
        return await self._post(target, caption, data, private=True, view=view)

    async def resend(self, target: Target, ref: str, caption: str) -> str:
        http = await self._client()
        try:
            data = await call(http.get_from_cdn(ref))
        except (discord.Forbidden, discord.NotFound) as exc:
            raise ChatUnavailable("the stored result expired on Discord's CDN") from exc
        return await self._post(target, caption, data)

    async def close(self) -> None:
        if self._http is not None:
            await self._http.close()
        if self._session is not None:
            await self._session.close()

    # --- internals ---------------------------------------------------------------------------------

    def _followup_open(self, target: Target) -> bool:
        token, expires = target.delivery.token, target.delivery.token_expires_at
        return token is not None and expires is not None and expires - utcnow() > TOKEN_MARGIN

    async def _post(
        self,
        target: Target,
        content: str,
        image: bytes | None,
        *,
        private: bool = False,
        view: discord.ui.View | None = None,
    ) -> str:
        """Followup (ephemeral when ``private``), else the channel, else a DM (a private one goes
        straight to the DM: the channel would show it to everyone), with ``view``'s buttons. Returns the
        attachment URL (or the message id)."""
        http = await self._client()
        if self._followup_open(target):
            try:
                return _reference(await self._followup(http, target, content, image, view, private=private))
            except (discord.Forbidden, discord.NotFound):
                pass  # the token died early (the interaction was deleted): post as the bot instead
        if not private or target.user_external_id is None:
            try:
                return _reference(await self._send(http, target.delivery.chat, content, image, view))
            except (discord.Forbidden, discord.NotFound) as exc:
                if target.user_external_id is None:
                    raise ChatUnavailable(f"discord: cannot post in channel {target.delivery.chat}") from exc
        try:
            channel = await call(http.start_private_message(int(target.user_external_id)))
            return _reference(await self._send(http, channel["id"], content, image, view))
        except (discord.Forbidden, discord.NotFound) as exc:
            raise ChatUnavailable(
                f"discord: the user does not accept messages from the bot ({exc.text})"
            ) from exc

    async def _followup(
        self,
        http: HTTPClient,
        target: Target,
        content: str,
        image: bytes | None,
        view: discord.ui.View | None,
        *,
        private: bool,
    ) -> Any:
        """A followup on the interaction's own (application) webhook, through the REST client: a
        ``discord.Webhook`` without a gateway connection refuses buttons that need one to be pressed,
        and a worker has none (the bot's process, which has one, answers the presses)."""
        assert self._application_id is not None and target.delivery.token is not None
        route = Route(
            "POST",
            "/webhooks/{webhook_id}/{webhook_token}",
            webhook_id=self._application_id,
            webhook_token=target.delivery.token,
        )
        flags = discord.MessageFlags(ephemeral=True) if private else discord.utils.MISSING
        with _message(content, image, view, flags=flags) as params:
            if params.files:
                request = http.request(
                    route, files=params.files, form=params.multipart, params={"wait": "true"}
                )
            else:
                request = http.request(route, json=params.payload, params={"wait": "true"})
            return await call(request)

    async def _send(
        self,
        http: HTTPClient,
        channel_id: str | int,
        content: str,
        image: bytes | None,
        view: discord.ui.View | None = None,
    ) -> Any:
        with _message(content, image, view) as params:
            return await call(http.send_message(int(channel_id), params=params))

    async def _client(self) -> HTTPClient:
        async with self._lock:
            if self._http is None:
                http = HTTPClient(asyncio.get_running_loop(), max_ratelimit_timeout=30.0)
                try:
                    await call(http.static_login(self.config.token))
                    if self._application_id is None:
                        info = await call(http.application_info())
                        self._application_id = int(info["id"])
                except Exception:
                    await http.close()
                    raise
                self._http = http
            return self._http

    async def _webhook(self, target: Target) -> discord.Webhook:
        await self._client()  # the application id comes with the login
        token = target.delivery.token
        assert self._application_id is not None and token is not None
        if self._session is None:
            self._session = aiohttp.ClientSession()
        # The interaction's own (application) webhook: discord.py sends ephemeral followups only on those.
        data: Any = {"id": self._application_id, "type": 3, "token": token}
        return discord.Webhook(data, self._session)


def _message(
    content: str, image: bytes | None, view: discord.ui.View | None, *, flags: Any = discord.utils.MISSING
) -> Any:
    file = (
        discord.File(io.BytesIO(image), filename=RESULT_NAME) if image is not None else discord.utils.MISSING
    )
    return handle_message_parameters(
        content=content or discord.utils.MISSING,
        file=file,
        view=view if view is not None else discord.utils.MISSING,
        flags=flags,
    )


def _reference(message: Any) -> str:
    attachments = message.get("attachments") or []
    return attachments[0]["url"] if attachments else str(message["id"])
