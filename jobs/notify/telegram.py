"""Telegram delivery through aiogram's ``Bot``, against the configured Bot API server.

Results go out with sendPhoto, or sendDocument when the picture exceeds the photo limits (or Telegram
refuses it as a photo). The reference kept for re-sending is the file_id Telegram gives back, with the
sent message's id after a ``#`` (db.jobs.result_message_of: a /report replying to it finds the job).
"""

from __future__ import annotations

from aiogram import Bot
from aiogram.exceptions import TelegramBadRequest
from aiogram.types import BufferedInputFile, ReplyParameters

from jobs.errors import ChatUnavailable
from jobs.notify import ResultMarkup, Target
from jobs.platforms.telegram import call
from jobs.results import Result

RESULT_NAME = "result.jpg"
# Bad requests that mean "send it as a file instead": Telegram's photo checks are stricter than ours.
_PHOTO_REFUSED = ("PHOTO_INVALID_DIMENSIONS", "PHOTO_SAVE_FILE_INVALID", "IMAGE_PROCESS_FAILED", "too big")
# Bad requests on a status edit that are no reason to fail a job.
_EDIT_HARMLESS = ("message is not modified", "message to edit not found", "message can't be edited")


class TelegramNotifier:
    """Sends through ``bot``, which belongs to whoever made it (and closes it)."""

    platform = "telegram"

    def __init__(self, bot: Bot, markup: ResultMarkup | None = None) -> None:
        self.bot = bot
        self.markup = markup

    async def status(self, target: Target, text: str) -> None:
        delivery = target.delivery
        if delivery.message is None:
            return
        try:
            await call(
                self.bot.edit_message_text(text=text, chat_id=delivery.chat, message_id=int(delivery.message))
            )
        except TelegramBadRequest as exc:
            if any(phrase in exc.message for phrase in _EDIT_HARMLESS):
                return
            raise ChatUnavailable(f"telegram: {exc.message}") from exc

    async def busy(self, target: Target) -> None:
        """Shows "sending a photo…" in the chat while the job works (cosmetic: the caller ignores
        failures)."""
        await self.bot.send_chat_action(target.delivery.chat, "upload_photo")

    async def notice(self, target: Target, text: str) -> None:
        if target.delivery.message is not None:
            await self.status(target, text)
            return
        try:
            await call(self.bot.send_message(target.delivery.chat, text))
        except TelegramBadRequest as exc:
            raise ChatUnavailable(f"telegram: {exc.message}") from exc

    async def deliver(self, target: Target, result: Result, caption: str) -> str:
        chat = target.delivery.chat
        markup = (
            self.markup(target, result.face_count)
            if self.markup is not None and result.face_count is not None
            else None
        )
        if result.photo is not None:
            try:
                sent = await call(
                    self.bot.send_photo(
                        chat,
                        BufferedInputFile(result.photo, RESULT_NAME),
                        caption=caption or None,
                        reply_parameters=self._reply(target),
                        reply_markup=markup,
                    )
                )
            except TelegramBadRequest as exc:
                if not any(marker in exc.message for marker in _PHOTO_REFUSED):
                    raise ChatUnavailable(f"telegram: {exc.message}") from exc
            else:
                assert sent.photo, "sendPhoto answered without a photo"
                return f"photo:{sent.photo[-1].file_id}#{sent.message_id}"
        try:
            sent = await call(
                self.bot.send_document(
                    chat,
                    BufferedInputFile(result.data, RESULT_NAME),
                    caption=caption or None,
                    reply_parameters=self._reply(target),
                    reply_markup=markup,
                )
            )
        except TelegramBadRequest as exc:
            raise ChatUnavailable(f"telegram: {exc.message}") from exc
        assert sent.document is not None, "sendDocument answered without a document"
        return f"document:{sent.document.file_id}#{sent.message_id}"

    async def resend(self, target: Target, ref: str, caption: str) -> str:
        kind, _, file_id = ref.partition("#")[0].partition(":")
        chat = target.delivery.chat
        try:
            if kind == "photo":
                await call(self.bot.send_photo(chat, file_id, caption=caption or None))
            elif kind == "document":
                await call(self.bot.send_document(chat, file_id, caption=caption or None))
            else:
                raise ValueError(f"not a Telegram result reference: {ref!r}")
        except TelegramBadRequest as exc:
            raise ChatUnavailable(f"telegram: {exc.message}") from exc
        return ref

    async def close(self) -> None:
        return None  # the Bot is closed by whoever opened it

    @staticmethod
    def _reply(target: Target) -> ReplyParameters | None:
        # Answer the status message; if the user deleted it, send anyway rather than fail.
        if target.delivery.message is None:
            return None
        return ReplyParameters(message_id=int(target.delivery.message), allow_sending_without_reply=True)
