"""Message filters: what the routers match on besides commands.

A photo sent "as a file" arrives as a document; only its declared MIME type and name say whether it is
a picture (bot.flows.swap.is_image_file decides, the same for every platform).
"""

from __future__ import annotations

from aiogram.filters import BaseFilter
from aiogram.types import Message

from bot.flows.swap import is_image_file


class ImageDocument(BaseFilter):
    """A document that says it is a picture (image/* or .jpg/.jpeg/.png/.webp)."""

    async def __call__(self, message: Message) -> bool:
        document = message.document
        return document is not None and is_image_file(document.mime_type, document.file_name)


class OtherDocument(BaseFilter):
    """A document that is not a picture (a text file, a PDF ...): refused before any download."""

    async def __call__(self, message: Message) -> bool:
        document = message.document
        return document is not None and not is_image_file(document.mime_type, document.file_name)
