"""Consent to the terms before the first swap (rules: bot/flows/consent.py): ``ask`` puts the question
with its buttons in place of the swap, as a reply to the person's message; the buttons' answer is
handled here. Agreeing to a question that answered a plain photo of theirs (a private chat, no
command, not an album) swaps that photo at once; anything else is sent again."""

from __future__ import annotations

from aiogram import Router
from aiogram.types import CallbackQuery, Message, ReplyParameters

from bot.flows import consent as flow
from bot.flows import swap as swap_flow
from bot.people import Translate
from bot.services import Services
from bot.telegram.keyboards import ConsentAnswer, consent_buttons
from bot.telegram.photos import StatusMessage, photo_of
from db.models import User

router = Router(name="consent")


async def ask(message: Message, user: User, services: Services, t: Translate) -> bool:
    """True when ``user`` must agree first: the question went out (answering ``message``) and the caller
    swaps nothing."""
    if not flow.needed(services, user):
        return False
    markup = consent_buttons(t, user.id, services.config.terms_version)
    reply = ReplyParameters(message_id=message.message_id, allow_sending_without_reply=True)
    await message.answer(t(flow.ASK), reply_markup=markup, reply_parameters=reply)
    return True


@router.callback_query(ConsentAnswer.filter())
async def answer(
    query: CallbackQuery, callback_data: ConsentAnswer, user: User, services: Services, t: Translate
) -> None:
    if callback_data.user != user.id:
        await query.answer(t("not_your_button"))
        return
    if not callback_data.yes:
        await _close(query, t("consent_declined"))
        return
    agreed = await flow.agree(services, user, callback_data.version)
    if agreed is flow.Agreed.STALE:
        # Terms replaced since the question: the new ones are asked, nothing is recorded.
        await query.answer(t(agreed.value), show_alert=True)
        if isinstance(query.message, Message):
            markup = consent_buttons(t, user.id, services.config.terms_version)
            await query.message.edit_text(t(flow.ASK), reply_markup=markup)
        return
    photo = _plain_photo(query, user)
    if photo is None or not isinstance(query.message, Message):
        await _close(query, t(agreed.value))
        return
    await _close(query, t("consent_agreed_swapping"))
    status = StatusMessage(query.message, t)
    await status.show(await swap_flow.swap_photo(services, user, photo, status.open))


def _plain_photo(query: CallbackQuery, user: User) -> swap_flow.Photo | None:
    """The photo the question answered, when it was a plain photo of the presser's in a private chat:
    what the "any photo" handler would have swapped."""
    question = query.message if isinstance(query.message, Message) else None
    original = question.reply_to_message if question is not None else None
    if original is None or original.from_user is None or str(original.from_user.id) != user.external_id:
        return None
    if original.chat.type != "private" or original.media_group_id or (original.caption or "").startswith("/"):
        return None
    return photo_of(original)  # swap_photo refuses a file that is no picture, as the photo handler does


async def _close(query: CallbackQuery, text: str) -> None:
    """Answer the press and replace the question (and its buttons) with the outcome."""
    await query.answer()
    if isinstance(query.message, Message):
        await query.message.edit_text(text)
