"""Message filters: what the routers match on besides commands.

A photo sent "as a file" arrives as a document; only its declared MIME type and name say whether it is
a picture (bot.flows.base.is_image_file decides, the same for every platform).

Every filter here is a ``BaseFilter`` with an async ``__call__``: aiogram runs a synchronous filter (a
bare ``F`` rule, a plain function) through ``asyncio.to_thread``, a thread hop and two GIL handovers
for a microsecond's attribute test, on every update. ``Magic`` checks an ``F`` rule on the loop.
"""

from __future__ import annotations

from aiogram.filters import BaseFilter
from aiogram.types import Message, TelegramObject
from aiogram.utils.magic_filter import MagicFilter

from bot.flows.base import is_image_file
from bot.services import Services
from db.models import User


class Magic(BaseFilter):
    """``Magic(F.photo | F.document)``: an ``F`` rule, checked on the event loop."""

    def __init__(self, rule: MagicFilter) -> None:
        self.rule = rule

    async def __call__(self, event: TelegramObject) -> bool:
        return bool(self.rule.resolve(event))


class Admin(BaseFilter):
    """The sender is one of SWAPBOT_ADMIN_IDS (anyone else falls through, as with an unknown command)."""

    async def __call__(self, _: TelegramObject, user: User, services: Services) -> bool:
        return services.config.is_admin(user.platform, user.external_id)


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
