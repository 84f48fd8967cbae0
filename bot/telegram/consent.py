"""The consent question in place of a swap (rules: bot/flows/consent.py, whose ``go`` answers ``ASK``;
the buttons' answer: routers/consent.py). Apart from the routers so that any router can ask without
importing another."""

from __future__ import annotations

from aiogram.types import Message, ReplyParameters

from bot.flows import consent as flow
from bot.people import Translate
from bot.services import Services
from bot.telegram.keyboards import consent_buttons
from db.models import User


async def ask(message: Message, user: User, services: Services, t: Translate, question: str) -> None:
    """The consent question ``question`` (bot/flows/consent.go held the swap under it), answering
    ``message``, with its two buttons."""
    markup = consent_buttons(t, user.id, services.config.terms_version, question)
    reply = ReplyParameters(message_id=message.message_id, allow_sending_without_reply=True)
    await message.answer(t(flow.ASK), reply_markup=markup, reply_parameters=reply)
