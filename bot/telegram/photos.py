"""A Telegram message's picture as the flows' neutral ``Photo``, and the status message a job reports in."""

from __future__ import annotations

from aiogram.types import Message

from bot.flows.base import Answer, OpenStatus, Photo
from bot.people import Translate
from db.jobs import Delivery
from jobs.request import InputRef


def photo_of(message: Message | None) -> Photo | None:
    """The largest size of a photo, or a document (a photo sent as a file, or any other file: the flow
    refuses those); None when the message has neither."""
    if message is None:
        return None
    if message.photo:
        size = message.photo[-1]
        return Photo(InputRef.telegram(size.file_id, size.file_unique_id), size=size.file_size)
    document = message.document
    if document is not None:
        return Photo(
            InputRef.telegram(document.file_id, document.file_unique_id),
            size=document.file_size,
            as_file=True,
            mime=document.mime_type,
            filename=document.file_name,
        )
    return None


class StatusMessage:
    """Opens a job's status message (answering ``message``) when a flow is about to submit, and shows
    the flow's answer: in the status message if it was opened, else as a reply."""

    def __init__(self, message: Message, t: Translate) -> None:
        self.message = message
        self.t = t
        self.sent: Message | None = None

    @property
    def open(self) -> OpenStatus:
        async def opener() -> Delivery:
            self.sent = await self.message.answer(self.t("job_status_opening"))
            return Delivery("telegram", str(self.message.chat.id), str(self.sent.message_id))

        return opener

    async def show(self, answer: Answer) -> None:
        if answer.submitted and not answer.again:
            return  # the status message tells the rest; the worker shows a chat action while it works
        text = self.t(answer.code, **answer.params)
        if self.sent is not None:
            await self.sent.edit_text(text)
        else:
            await self.message.answer(text)
